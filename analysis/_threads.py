"""How many threads one analysis may use for its FFTs (the process-wide default, set once by the host)."""

from __future__ import annotations

import os

__all__ = ["fft_threads", "set_threads"]

_threads = max(1, min(4, os.cpu_count() or 1))


def fft_threads() -> int:
    """Threads each FFT call may use."""
    return _threads


def set_threads(n: int) -> None:
    """Limit the FFT threads of every later analysis in this process (at least 1).

    A host that runs several analyses side by side, one per process, gives each its share of the cores:
    with more threads than cores, the processes slow each other down far more than they gain.
    """
    global _threads
    _threads = max(1, int(n))
