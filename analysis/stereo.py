"""Stereo image: width, left/right correlation and balance from the complex STFTs of the two channels.

Conventions: STFTs are complex ``(1 + n_fft // 2, n_frames)`` arrays of the left and right channels on one frame
grid (the pipeline uses 44.1 kHz, ``n_fft=4096``, hop 1024, Hann); bin ``k`` sits at ``k * sr / n_fft`` Hz. Mid is
``(L + R) / 2`` and side ``(L - R) / 2``. Width is the side share of the mid-plus-side energy, in ``[0, 1]``: 0 for
mono (L = R), 0.5 for uncorrelated channels of equal level or a single hard-panned channel, 1 for L = -R. For equal
channel levels width equals ``(1 - correlation) / 2``. Correlation is the uncentred correlation coefficient of the
windowed frames, ``sum(wl * wr) / sqrt(sum(wl^2) * sum(wr^2))``, computed from the cross-spectrum (Parseval); it is
the Pearson correlation of the windowed frames when they have zero mean, as audio does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from analysis._numba import njit
from analysis._typing import Float32Array, Float64Array
from analysis.errors import AnalysisParameterError
from analysis.tonal_balance import BAND_NAMES, band_bins

__all__ = [
    "ACTIVE_FRAME_RANGE_DB",
    "StereoImage",
    "stereo_image",
    "stereo_image_from_bands",
]

# Frames more than this far below the loudest frame are left out of the track summaries (fades, silence).
ACTIVE_FRAME_RANGE_DB = 60.0
# A channel this far below the loudest frame counts as silent in a frame: its correlation is 0.
_SILENT_CHANNEL_DB = -120.0

ComplexArray = npt.NDArray[np.complex64] | npt.NDArray[np.complex128]


@dataclass(frozen=True, slots=True)
class StereoImage:
    """Stereo width, correlation and balance per frame, per band and over the track.

    Attributes
    ----------
    width : np.ndarray, shape (n_frames,), float32
        Side energy over mid-plus-side energy per frame, in ``[0, 1]`` (module conventions); 0 for silent frames.
    correlation : np.ndarray, shape (n_frames,), float32
        Left/right correlation per frame in ``[-1, 1]``; 0 when either channel is silent in the frame (so a
        hard-panned, single-channel frame reads 0), 1 for every frame of a mono input.
    width_mean, width_p10, width_median, width_p90 : float or None
        Mean and percentiles of ``width`` over the active frames (within :data:`ACTIVE_FRAME_RANGE_DB` of the
        loudest frame); ``None`` for silence.
    correlation_mean : float or None
        Mean of ``correlation`` over the active frames; ``None`` for silence.
    negative_correlation_fraction : float or None
        Fraction of the active frames with negative correlation (phase problems in mono), in ``[0, 1]``; ``None``
        for silence.
    side_to_mid_db : float or None
        Track side energy over mid energy in dB (-inf for mono is reported as ``None``, as is a track with no mid
        energy at all or silence).
    balance_db : float or None
        Track left energy over right energy in dB (positive: left louder); ``None`` if either channel is silent.
    band_names : tuple of str
        The producer bands (``analysis.tonal_balance.BAND_NAMES``).
    band_width : tuple of (float or None)
        Width of each band over the whole track (energy-weighted); ``None`` for bands above the source's Nyquist
        frequency or without energy.
    band_correlation : tuple of (float or None)
        Correlation of each band over the whole track (energy-weighted); ``None`` likewise, or when a channel has
        no energy in the band.
    """

    width: Float32Array
    correlation: Float32Array
    width_mean: float | None
    width_p10: float | None
    width_median: float | None
    width_p90: float | None
    correlation_mean: float | None
    negative_correlation_fraction: float | None
    side_to_mid_db: float | None
    balance_db: float | None
    band_names: tuple[str, ...]
    band_width: tuple[float | None, ...]
    band_correlation: tuple[float | None, ...]


def stereo_image(
    *,
    stft_left: ComplexArray,
    stft_right: ComplexArray | None,
    sr: int,
    n_fft: int,
    source_sr: int | None = None,
) -> StereoImage:
    """Measure stereo width, left/right correlation and balance per frame, per producer band and over the track.

    Parameters
    ----------
    stft_left : np.ndarray, shape (1 + n_fft // 2, n_frames), complex
        STFT of the left channel (complex64 avoids a conversion).
    stft_right : np.ndarray, shape (1 + n_fft // 2, n_frames), complex, or None
        STFT of the right channel on the same grid; ``None`` for a mono source, which reads width 0, correlation 1
        in every frame and band, side-to-mid ``None`` and balance 0 dB (the channel plays equally on both sides).
    sr : int
        Sampling rate of the STFTs in Hz.
    n_fft : int
        FFT length of the STFTs.
    source_sr : int or None
        Sampling rate of the original audio (``None``: ``sr``); bands above its Nyquist frequency are ``None``.

    Returns
    -------
    StereoImage
        See the attributes for units and the ``None`` conventions. Hard-panned left only: width 0.5, correlation
        0, side-to-mid 0 dB, balance ``None``. Polarity-inverted (L = -R): width 1, correlation -1, side-to-mid
        ``None`` (no mid at all). Silence: zero width and correlation series and ``None`` summaries.

    Raises
    ------
    AnalysisParameterError
        If the STFTs are not complex, not of shape ``(1 + n_fft // 2, n_frames)`` or differ in shape, or a rate or
        ``n_fft`` is invalid.
    """
    bins = band_bins(sr=sr, n_fft=n_fft, source_sr=source_sr)
    left = _check_stft(stft_left, n_fft=n_fft, name="stft_left")
    if stft_right is None:
        return _mono(left, bins)
    right = _check_stft(stft_right, n_fft=n_fft, name="stft_right")
    if right.shape != left.shape:
        raise AnalysisParameterError(f"stft_left and stft_right differ in shape: {left.shape} vs {right.shape}")
    n_bins = left.shape[0]
    band_of = np.full(n_bins, -1, dtype=np.int64)
    for band, span in enumerate(bins):
        if span is not None:
            band_of[span[0] : span[1]] = band
    # One-sided spectrum: every bin but DC and Nyquist stands for two (Parseval).
    weight = np.full(n_bins, 2.0)
    weight[0] = 1.0
    if n_fft % 2 == 0:
        weight[-1] = 1.0
    if right.dtype != left.dtype:
        right = right.astype(np.complex128)
        left = left.astype(np.complex128)
    sums: Float64Array = _kernels().cross_band_sums(left, right, band_of, weight, len(bins))
    # sums[q, b, t]: q = left power, right power, cross power (Re L R*); b = band, last = all bins (weighted).
    return _image(totals=sums[:, -1], bands=sums[:, :-1], available=tuple(span is not None for span in bins))


def stereo_image_from_bands(
    *,
    left: npt.ArrayLike,
    right: npt.ArrayLike,
    cross: npt.ArrayLike,
    available: Sequence[bool],
) -> StereoImage:
    """Compute the stereo image from per-frame band energies (see :func:`analysis.frontend.frontend`).

    Parameters
    ----------
    left, right : np.ndarray, shape (n_frames, 6)
        Power of the left and right channels summed over each producer band's STFT bins.
    cross : np.ndarray, shape (n_frames, 6)
        Real part of the L·R* cross-spectrum summed likewise.
    available : sequence of bool, length 6
        Whether each band lies below the source's Nyquist frequency; per-frame values use the available bands.

    Returns
    -------
    StereoImage
        As :func:`stereo_image`, with the per-frame width and correlation taken over the available bands
        (20 Hz to the source's Nyquist frequency or 20 kHz) instead of every bin.

    Raises
    ------
    AnalysisParameterError
        If the arrays do not share a ``(n_frames, 6)`` shape.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (left, right, cross)]
    if any(a.shape != arrays[0].shape or a.ndim != 2 or a.shape[1] != len(BAND_NAMES) for a in arrays):
        raise AnalysisParameterError(f"band energies must share a shape (n_frames, {len(BAND_NAMES)})")
    mask = np.asarray(available, dtype=bool)
    bands = np.stack([a.T for a in arrays])
    totals = bands[:, mask].sum(axis=1)
    return _image(totals=totals, bands=bands, available=tuple(bool(v) for v in mask))


def _image(*, totals: Float64Array, bands: Float64Array, available: tuple[bool, ...]) -> StereoImage:
    """Width, correlation and their summaries from band energies.

    ``totals[q, t]`` and ``bands[q, b, t]`` hold, for q = 0, 1, 2, the left power, the right power and the cross
    term, per frame t (and band b).
    """
    p_left, p_right, cross = totals[0], totals[1], totals[2]
    energy = p_left + p_right
    loudest = float(energy.max(initial=0.0))
    silent_floor = loudest * 10.0 ** (_SILENT_CHANNEL_DB / 10.0)
    both = (p_left > silent_floor) & (p_right > silent_floor)
    correlation = np.zeros(energy.size)
    np.divide(cross, np.sqrt(p_left * p_right), out=correlation, where=both)
    width = np.zeros(energy.size)
    np.divide(energy - 2.0 * cross, 2.0 * energy, out=width, where=energy > silent_floor)
    correlation = np.clip(correlation, -1.0, 1.0)
    width = np.clip(width, 0.0, 1.0)

    active = (energy > 0.0) & (energy >= loudest * 10.0 ** (-ACTIVE_FRAME_RANGE_DB / 10.0))
    total_left, total_right, total_cross = float(p_left.sum()), float(p_right.sum()), float(cross.sum())
    total_mid = (total_left + total_right + 2.0 * total_cross) / 4.0
    total_side = (total_left + total_right - 2.0 * total_cross) / 4.0
    band_width: list[float | None] = []
    band_correlation: list[float | None] = []
    for band, is_available in enumerate(available):
        b_left, b_right, b_cross = (float(bands[q, band].sum()) for q in range(3))
        b_energy = b_left + b_right
        ok = is_available and b_energy > 0.0
        band_width.append(_clip((b_energy - 2.0 * b_cross) / (2.0 * b_energy), 0.0) if ok else None)
        ok = is_available and b_left > 0.0 and b_right > 0.0
        band_correlation.append(_clip(b_cross / float(np.sqrt(b_left * b_right)), -1.0) if ok else None)
    active_width, active_correlation = width[active], correlation[active]
    any_active = bool(active.any())
    return StereoImage(
        width=width.astype(np.float32),
        correlation=correlation.astype(np.float32),
        width_mean=float(active_width.mean()) if any_active else None,
        width_p10=float(np.percentile(active_width, 10)) if any_active else None,
        width_median=float(np.percentile(active_width, 50)) if any_active else None,
        width_p90=float(np.percentile(active_width, 90)) if any_active else None,
        correlation_mean=float(active_correlation.mean()) if any_active else None,
        negative_correlation_fraction=float(np.mean(active_correlation < 0.0)) if any_active else None,
        side_to_mid_db=_ratio_db(total_side, total_mid),
        balance_db=_ratio_db(total_left, total_right),
        band_names=BAND_NAMES,
        band_width=tuple(band_width),
        band_correlation=tuple(band_correlation),
    )


def _check_stft(stft: ComplexArray, *, n_fft: int, name: str) -> ComplexArray:
    array: ComplexArray = np.asarray(stft)  # type: ignore[assignment]
    if not np.iscomplexobj(array):
        raise AnalysisParameterError(f"{name} must be a complex STFT, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[0] != 1 + n_fft // 2:
        raise AnalysisParameterError(
            f"{name} must have shape (1 + n_fft // 2, n_frames) = ({1 + n_fft // 2}, n_frames), got {array.shape}"
        )
    return array


def _mono(left: ComplexArray, bins: tuple[tuple[int, int] | None, ...]) -> StereoImage:
    n_frames = left.shape[1]
    return StereoImage(
        width=np.zeros(n_frames, dtype=np.float32),
        correlation=np.ones(n_frames, dtype=np.float32),
        width_mean=0.0,
        width_p10=0.0,
        width_median=0.0,
        width_p90=0.0,
        correlation_mean=1.0,
        negative_correlation_fraction=0.0,
        side_to_mid_db=None,
        balance_db=0.0,
        band_names=BAND_NAMES,
        band_width=tuple(None if span is None else 0.0 for span in bins),
        band_correlation=tuple(None if span is None else 1.0 for span in bins),
    )


def _clip(value: float, low: float) -> float:
    return min(max(value, low), 1.0)


def _ratio_db(numerator: float, denominator: float) -> float | None:
    if numerator <= 0.0 or denominator <= 0.0:
        return None
    return 10.0 * float(np.log10(numerator / denominator))


# ---------------------------------------------------------------------------------------------------------------
# numba is imported and the kernel compiled on first use, which keeps numba off the package's import path.


@dataclass(frozen=True, slots=True)
class _Kernels:
    cross_band_sums: Callable[[ComplexArray, ComplexArray, Any, Float64Array, int], Float64Array]


@functools.cache
def _kernels() -> _Kernels:
    # Only the first measurement pays for importing numba.
    return _Kernels(cross_band_sums=njit(_cross_band_sums, nogil=True, fastmath=True, cache=True))


def _cross_band_sums(left: Any, right: Any, band_of: Any, weight: Any, n_bands: int) -> Any:
    """Per-frame sums of ``|L|^2``, ``|R|^2`` and ``Re(L R*)`` over each band's bins and over all bins (weighted).

    One pass over the two spectra, bin by bin, so every inner loop runs along a contiguous row of frames.
    """
    n_bins, n_frames = left.shape
    out = np.zeros((3, n_bands + 1, n_frames))
    for k in range(n_bins):
        band = band_of[k]
        w = weight[k]
        row_left = left[k]
        row_right = right[k]
        if band >= 0:
            for t in range(n_frames):
                lr, li = np.float64(row_left[t].real), np.float64(row_left[t].imag)
                rr, ri = np.float64(row_right[t].real), np.float64(row_right[t].imag)
                pl = lr * lr + li * li
                pr = rr * rr + ri * ri
                c = lr * rr + li * ri
                out[0, band, t] += pl
                out[1, band, t] += pr
                out[2, band, t] += c
                out[0, n_bands, t] += w * pl
                out[1, n_bands, t] += w * pr
                out[2, n_bands, t] += w * c
        else:
            for t in range(n_frames):
                lr, li = np.float64(row_left[t].real), np.float64(row_left[t].imag)
                rr, ri = np.float64(row_right[t].real), np.float64(row_right[t].imag)
                out[0, n_bands, t] += w * (lr * lr + li * li)
                out[1, n_bands, t] += w * (rr * rr + ri * ri)
                out[2, n_bands, t] += w * (lr * rr + li * ri)
    return out
