"""Analysis windows, without importing scipy.signal (over a second of start-up for one function)."""

from __future__ import annotations

import numpy as np

from analysis._typing import Float64Array

__all__ = ["hann"]


def hann(n: int) -> Float64Array:
    """Return the periodic Hann window of length ``n`` (as ``scipy.signal.get_window("hann", n)``).

    Parameters
    ----------
    n : int
        Window length in samples.

    Returns
    -------
    np.ndarray, shape (n,), float64
        ``0.5 - 0.5 cos(2 pi k / n)``.
    """
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)
