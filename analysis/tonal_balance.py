"""Tonal balance: how a track's energy splits across the producer's six frequency bands.

Conventions: spectrograms are ``(1 + n_fft // 2, n_frames)`` power (``|STFT|**2``) from a periodic-Hann STFT, as
:func:`analysis.spectrum.power_spectrogram` computes; bin ``k`` sits at ``k * sr / n_fft`` Hz and belongs to the band
``[low, high)`` containing it. The air band needs a spectrum of a signal sampled at 40 kHz or more: the pipeline
passes a full-rate (44.1 kHz, ``n_fft=4096``, hop 1024) spectrum of the mono mix, and ``source_sr`` says at what
rate the audio was recorded, because a band above the source's Nyquist frequency holds only resampling residue.
Levels are in dBFS (full-scale sine = -3.01 dBFS, as :func:`analysis.loudness.rms_db`), ratios in dB and shares in
percent of the summed energy of the available bands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from analysis._typing import Float32Array, Float64Array
from analysis._validate import check_positive_int, check_sr
from analysis._windows import hann
from analysis.errors import AnalysisParameterError

__all__ = [
    "BAND_EDGES_HZ",
    "BAND_NAMES",
    "TONAL_FLOOR_DB",
    "TonalBalance",
    "band_bins",
    "tonal_balance",
    "tonal_balance_from_bands",
]

BAND_NAMES: tuple[str, ...] = ("sub", "low", "low_mid", "high_mid", "presence", "air")
BAND_EDGES_HZ: tuple[tuple[float, float], ...] = (
    (20.0, 60.0),
    (60.0, 250.0),
    (250.0, 2000.0),
    (2000.0, 6000.0),
    (6000.0, 12000.0),
    (12000.0, 20000.0),
)
TONAL_FLOOR_DB = -120.0


@dataclass(frozen=True, slots=True)
class TonalBalance:
    """Energy of each producer band per frame and over the whole track.

    Bands (``BAND_NAMES`` order, edges in ``BAND_EDGES_HZ``): sub 20-60 Hz, low 60-250 Hz, low-mid 250 Hz-2 kHz,
    high-mid 2-6 kHz, presence 6-12 kHz, air 12-20 kHz. A band is *available* when it lies wholly below the Nyquist
    frequency of both the source (``source_sr / 2``) and the spectrum; unavailable bands are NaN in ``band_db`` and
    ``None`` in every per-band tuple.

    Attributes
    ----------
    band_names : tuple of str
        ``BAND_NAMES``.
    band_edges_hz : tuple of (float, float)
        ``BAND_EDGES_HZ``: ``[low, high)`` of each band in Hz.
    available : tuple of bool
        Whether each band lies below the source's and the spectrum's Nyquist frequency.
    band_db : np.ndarray, shape (n_frames, 6), float32
        Level of each band per frame in dBFS (the RMS level of the band-limited signal; the power sum over the six
        bands is the frame's level from 20 Hz to 20 kHz), floored at :data:`TONAL_FLOOR_DB`; NaN for unavailable
        bands.
    band_level_dbfs : tuple of (float or None)
        Track level of each band (power mean over all frames) in dBFS; ``None`` if unavailable or silent.
    relative_db : tuple of (float or None)
        Track energy of each band relative to the summed energy of the available bands, in dB (``<= 0``);
        ``None`` if unavailable, or for every band when the track is silent in all bands.
    share_pct : tuple of (float or None)
        The same ratio in percent; the available bands sum to 100 (``None`` like ``relative_db``).
    """

    band_names: tuple[str, ...]
    band_edges_hz: tuple[tuple[float, float], ...]
    available: tuple[bool, ...]
    band_db: Float32Array
    band_level_dbfs: tuple[float | None, ...]
    relative_db: tuple[float | None, ...]
    share_pct: tuple[float | None, ...]


def band_bins(*, sr: int, n_fft: int, source_sr: int | None = None) -> tuple[tuple[int, int] | None, ...]:
    """Return the FFT bin range of each producer band, or ``None`` for a band above the Nyquist frequency.

    Parameters
    ----------
    sr : int
        Sampling rate of the spectrum in Hz.
    n_fft : int
        FFT length of the spectrum.
    source_sr : int or None
        Rate at which the audio was recorded, before any resampling; ``None`` means ``sr``.

    Returns
    -------
    tuple of ((int, int) or None)
        For each band of ``BAND_EDGES_HZ``, ``(first, stop)`` such that bins ``first .. stop - 1`` lie in
        ``[low, high)`` Hz; ``None`` when ``high`` exceeds ``min(sr, source_sr) / 2`` or no bin falls in the band.

    Raises
    ------
    AnalysisParameterError
        If a rate or ``n_fft`` is invalid.
    """
    sr = check_sr(sr)
    n_fft = check_positive_int(n_fft, name="n_fft")
    nyquist = min(sr, sr if source_sr is None else check_sr(source_sr)) / 2.0
    out: list[tuple[int, int] | None] = []
    for low, high in BAND_EDGES_HZ:
        first = int(np.ceil(low * n_fft / sr))
        stop = int(np.ceil(high * n_fft / sr))
        out.append((first, stop) if high <= nyquist and stop > first else None)
    return tuple(out)


def tonal_balance(*, S_power: Float32Array, sr: int, n_fft: int, source_sr: int | None = None) -> TonalBalance:
    """Measure the energy in each producer band per frame and as a share of the track's energy.

    Parameters
    ----------
    S_power : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Power spectrogram (periodic Hann) of the mono mix at ``sr``; the pipeline uses 44.1 kHz, ``n_fft=4096``.
    sr : int
        Sampling rate of the spectrum in Hz.
    n_fft : int
        FFT length of ``S_power``.
    source_sr : int or None
        Sampling rate of the original audio in Hz (``None``: ``sr``). Bands above ``source_sr / 2`` are reported
        unavailable: an 8 kHz file upsampled to 44.1 kHz has only sub, low and low-mid; a 22.05 kHz file has no
        presence or air.

    Returns
    -------
    TonalBalance
        Silence (and frames of silence) read :data:`TONAL_FLOOR_DB` in ``band_db``; for a silent track the
        levels, relative levels and shares are ``None``.

    Raises
    ------
    AnalysisParameterError
        If ``S_power`` does not have ``1 + n_fft // 2`` rows or a rate or ``n_fft`` is invalid.
    """
    bins = band_bins(sr=sr, n_fft=n_fft, source_sr=source_sr)
    power = np.asarray(S_power)
    if power.ndim != 2 or power.shape[0] != 1 + n_fft // 2:
        raise AnalysisParameterError(
            f"S_power must have shape (1 + n_fft // 2, n_frames) = ({1 + n_fft // 2}, n_frames), got {power.shape}"
        )
    n_frames = power.shape[1]
    # Parseval for a one-sided spectrum of a Hann-windowed frame: mean square = 2 * sum(bins) / (n_fft^2 * <w^2>).
    window = hann(n_fft)
    scale = 2.0 / (float(n_fft) ** 2 * float(np.mean(window**2)))
    mean_square = np.full((len(bins), n_frames), np.nan)
    for band, span in enumerate(bins):
        if span is not None:
            # Summed in the input precision (float32 keeps levels to far better than 0.01 dB, at half the cost).
            mean_square[band] = power[span[0] : span[1]].sum(axis=0) * scale
    return _balance(mean_square, available=tuple(span is not None for span in bins))


def tonal_balance_from_bands(*, mean_square: npt.ArrayLike, available: Sequence[bool]) -> TonalBalance:
    """Compute the tonal balance from per-frame band mean squares (see :func:`analysis.frontend.frontend`).

    Parameters
    ----------
    mean_square : np.ndarray, shape (n_frames, 6)
        Mean square of each band-limited signal per frame (full-scale sine = 0.5), bands in :data:`BAND_NAMES`
        order.
    available : sequence of bool, length 6
        Whether each band lies below the source's Nyquist frequency; the others are reported as unavailable.

    Returns
    -------
    TonalBalance
        As :func:`tonal_balance`.

    Raises
    ------
    AnalysisParameterError
        If ``mean_square`` is not ``(n_frames, 6)``.
    """
    values = np.asarray(mean_square, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != len(BAND_NAMES):
        raise AnalysisParameterError(f"mean_square must have shape (n_frames, {len(BAND_NAMES)}), got {values.shape}")
    flags = tuple(bool(v) for v in available)
    rows = values.T.copy()
    rows[[not v for v in flags]] = np.nan
    return _balance(rows, available=flags)


def _balance(mean_square: Float64Array, *, available: tuple[bool, ...]) -> TonalBalance:
    """Levels, relative levels and shares from band mean squares of shape ``(6, n_frames)`` (NaN if unavailable)."""
    n_frames = mean_square.shape[1]
    floor = 10.0 ** (TONAL_FLOOR_DB / 10.0)
    with np.errstate(invalid="ignore"):
        band_db = (10.0 * np.log10(np.maximum(mean_square, floor))).T.astype(np.float32)
    band_db[:, [not v for v in available]] = np.nan

    track = _track_mean(mean_square, n_frames=n_frames)
    total = float(np.nansum(track))
    levels: list[float | None] = []
    relative: list[float | None] = []
    shares: list[float | None] = []
    for band, is_available in enumerate(available):
        energy = float(track[band])
        usable = is_available and total > 0.0
        levels.append(10.0 * float(np.log10(energy)) if is_available and energy > 0.0 else None)
        relative.append(10.0 * float(np.log10(max(energy / total, floor))) if usable else None)
        shares.append(100.0 * energy / total if usable else None)
    return TonalBalance(
        band_names=BAND_NAMES,
        band_edges_hz=BAND_EDGES_HZ,
        available=available,
        band_db=np.ascontiguousarray(band_db),
        band_level_dbfs=tuple(levels),
        relative_db=tuple(relative),
        share_pct=tuple(shares),
    )


def _track_mean(mean_square: Float64Array, *, n_frames: int) -> Float64Array:
    if n_frames == 0:
        return np.zeros(mean_square.shape[0])
    out: Float64Array = mean_square.mean(axis=1)
    return out
