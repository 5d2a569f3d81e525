"""Up-front validation of the arguments every analysis function shares."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from analysis._typing import Float32Array
from analysis.errors import AnalysisParameterError

__all__ = ["MAX_CHANNELS", "MAX_SR", "MIN_SR", "as_channels_first", "check_positive_int", "check_sr"]

MIN_SR = 1000
MAX_SR = 768_000
MAX_CHANNELS = 64


def check_sr(sr: object) -> int:
    """Return ``sr`` as an int after checking it is a plausible sampling rate in Hz."""
    if isinstance(sr, bool) or not isinstance(sr, int | np.integer):
        raise AnalysisParameterError(f"sr must be an integer number of Hz, got {sr!r}")
    if not MIN_SR <= int(sr) <= MAX_SR:
        raise AnalysisParameterError(f"sr must be between {MIN_SR} and {MAX_SR} Hz, got {sr}")
    return int(sr)


def check_positive_int(value: object, *, name: str) -> int:
    """Return ``value`` as an int after checking it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 1:
        raise AnalysisParameterError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def as_channels_first(samples: npt.ArrayLike) -> Float32Array:
    """Validate audio samples and return them as a C-contiguous ``(channels, n_samples)`` float32 array.

    Raises
    ------
    AnalysisParameterError
        If the array is not 1-D or 2-D, is empty, looks samples-first, or holds NaN or infinite values.
    """
    x = np.asarray(samples)
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise AnalysisParameterError(f"samples must be a numeric array, got dtype {x.dtype}")
    if x.ndim == 1:
        x = x[np.newaxis, :]
    if x.ndim != 2:
        raise AnalysisParameterError(f"samples must have shape (channels, n_samples) or (n_samples,), got {x.shape}")
    if x.shape[0] > MAX_CHANNELS:
        raise AnalysisParameterError(
            f"samples has {x.shape[0]} channels (shape {x.shape}); expected channels-first (channels, n_samples)"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise AnalysisParameterError(f"samples is empty (shape {x.shape})")
    if np.issubdtype(x.dtype, np.integer):
        raise AnalysisParameterError("samples must be floating point in [-1, 1], got integer PCM")
    out = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(out).all():
        raise AnalysisParameterError("samples contain NaN or infinite values")
    return out
