"""Level measurements.

Conventions: levels are in dBFS relative to a full-scale amplitude of 1.0 with no AES17 offset, so a full-scale
sine reads -3.01 dBFS and a full-scale square wave 0 dBFS. Silence reads :data:`RMS_FLOOR_DB`.
"""

from __future__ import annotations

import numpy as np
import scipy.signal

from analysis._typing import Float32Array
from analysis._validate import check_positive_int

__all__ = ["RMS_FLOOR_DB", "rms_db"]

RMS_FLOOR_DB = -120.0


def rms_db(*, S_power: Float32Array, n_fft: int) -> Float32Array:
    """Compute the RMS level of each frame from a Hann-windowed power spectrogram.

    By Parseval's theorem the bins of a frame sum to the energy of the windowed samples; dividing by the window's
    mean square removes the window's attenuation, so a stationary signal reads its true RMS level.

    Parameters
    ----------
    S_power : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Power spectrogram from :func:`analysis.spectrum.power_spectrogram` (periodic Hann window).
    n_fft : int
        FFT length used for ``S_power``.

    Returns
    -------
    np.ndarray, shape (n_frames,), float32
        Level in dBFS (see the module conventions), floored at :data:`RMS_FLOOR_DB`. Frames overlapping the
        zero padding at the ends read lower.
    """
    n_fft = check_positive_int(n_fft, name="n_fft")
    power = np.asarray(S_power)
    full_spectrum = 2.0 * power.sum(axis=0, dtype=np.float64) - power[0]
    if n_fft % 2 == 0:
        full_spectrum -= power[-1]
    window = scipy.signal.get_window("hann", n_fft, fftbins=True)
    mean_square = full_spectrum / (n_fft**2) / float(np.mean(window**2))
    floor = 10.0 ** (RMS_FLOOR_DB / 10.0)
    level: Float32Array = (10.0 * np.log10(np.maximum(mean_square, floor))).astype(np.float32)
    return level
