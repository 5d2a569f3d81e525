"""Up-front validation of the arguments every analysis function shares."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from analysis._typing import Float32Array
from analysis.errors import AnalysisParameterError

__all__ = [
    "MAX_ABS_SAMPLE",
    "MAX_CHANNELS",
    "MAX_SR",
    "MIN_SR",
    "as_channels_first",
    "check_positive_int",
    "check_sr",
    "format_problem",
    "sample_values_problem",
]

# The limits of what can be analysed. The decoder (analysis.io) refuses files outside them with the same reasons,
# so an upload is refused at once instead of failing later in the worker.
MIN_SR = 1000
MAX_SR = 768_000
MAX_CHANNELS = 64
# Float audio may exceed full scale, but far beyond it (2**32: integer PCM written as floats still fits) the
# spectra overflow float32 and nothing meaningful can be measured.
MAX_ABS_SAMPLE = float(2**32)


def format_problem(*, sr: int, channels: int) -> str | None:
    """Why audio at ``sr`` Hz with ``channels`` channels cannot be analysed, or ``None`` when it can."""
    if not MIN_SR <= sr <= MAX_SR:
        return f"a sampling rate of {sr} Hz is not supported (it must be between {MIN_SR} and {MAX_SR} Hz)"
    if not 1 <= channels <= MAX_CHANNELS:
        return f"{channels} channels are not supported (at most {MAX_CHANNELS})"
    return None


def sample_values_problem(y: Float32Array) -> str | None:
    """Why the values of float samples ``y`` cannot be analysed (NaN, infinite or absurdly large), else ``None``."""
    if y.size == 0:
        return None
    # Two reductions, no temporary array: NaN propagates through both, so a non-finite peak means NaN or inf.
    peak = max(float(y.max()), -float(y.min()))
    if not math.isfinite(peak):
        return "contain NaN or infinite values"
    if peak > MAX_ABS_SAMPLE:
        return f"exceed \u00b1{MAX_ABS_SAMPLE:.0f}, far beyond full scale (\u00b11)"
    return None


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


def as_channels_first(y: npt.ArrayLike) -> Float32Array:
    """Validate audio samples and return them as a C-contiguous ``(channels, n_samples)`` float32 array.

    Raises
    ------
    AnalysisParameterError
        If the array is not 1-D or 2-D, is empty, looks samples-first, or holds NaN, infinite or absurdly large
        values (beyond ``MAX_ABS_SAMPLE``).
    """
    x = np.asarray(y)
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
    problem = sample_values_problem(out)
    if problem is not None:
        raise AnalysisParameterError(f"samples {problem}")
    return out
