"""Timbre features computed from the shared power spectrogram and its log-mel spectrogram.

Conventions: ``S_power`` is a ``(1 + n_fft // 2, n_frames)`` power spectrogram from
:func:`analysis.spectrum.power_spectrogram` and ``S_db`` an ``(n_mels, n_frames)`` log-power mel spectrogram in dB
from :func:`analysis.spectrum.mel_db`; ``sr`` is the rate of the analysed signal in Hz. Every function returns one
value (or one column) per frame, on the frame grid of its input. The definitions follow librosa's
``feature/spectral.py`` (rolloff and MFCC agree with librosa to float32 rounding); the computations are blocked so
a three-minute track costs a few milliseconds per feature.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from analysis._typing import Float32Array, FloatArray
from analysis._validate import check_positive_int, check_sr
from analysis.errors import AnalysisParameterError

__all__ = ["FLATNESS_AMIN", "mfcc", "spectral_flatness", "spectral_rolloff"]

FLATNESS_AMIN = 1e-10
"""Floor applied to each power bin before the geometric mean (librosa's ``amin``)."""

# Rolloff: bins are summed in blocks of this size, so the cumulative sum runs over blocks, then inside one block.
_ROLLOFF_BLOCK = 32
# Flatness: the geometric mean multiplies groups of 4 floored bins (2 ** _FLATNESS_LEVELS) in float32 before taking
# one log; the scale centres the bins' range [1e-10, ~1e7] on float32's exponent range, so no product of four
# over- or underflows.
_FLATNESS_LEVELS = 2
_FLATNESS_SCALE = np.float32(100.0)


def _check_spectrogram(S: Float32Array, *, name: str) -> Float32Array:
    x = np.asarray(S)
    if x.ndim != 2:
        raise AnalysisParameterError(f"{name} must be 2-D (bins, frames), got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise AnalysisParameterError(f"{name} must be floating point, got dtype {x.dtype}")
    return np.ascontiguousarray(x, dtype=np.float32)


def spectral_rolloff(*, S_power: Float32Array, sr: int, n_fft: int, roll_percent: float = 0.85) -> Float32Array:
    """Compute the frequency below which ``roll_percent`` of each frame's spectral magnitude lies.

    The rolloff of a frame is the centre frequency of the first bin at which the cumulative magnitude
    ``sqrt(S_power)``, summed from DC upwards, reaches ``roll_percent`` of the frame's total (librosa's
    ``spectral_rolloff`` on a magnitude spectrogram).

    Parameters
    ----------
    S_power : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Power spectrogram from :func:`analysis.spectrum.power_spectrogram`.
    sr : int
        Sampling rate of the analysed signal in Hz.
    n_fft : int
        FFT length used for ``S_power``.
    roll_percent : float
        Fraction of the magnitude, in ``(0, 1)``.

    Returns
    -------
    np.ndarray, shape (n_frames,), float32
        Rolloff in Hz, a multiple of ``sr / n_fft``; ``0.0`` for silent frames (no spectral magnitude). A pure tone
        reads the bin of its frequency (its Hann main lobe is three bins wide), white noise about
        ``roll_percent * sr / 2``.

    Raises
    ------
    AnalysisParameterError
        If ``S_power`` is not 2-D with ``1 + n_fft // 2`` rows, or ``roll_percent`` is not in ``(0, 1)``.
    """
    sr = check_sr(sr)
    n_fft = check_positive_int(n_fft, name="n_fft")
    if not 0.0 < roll_percent < 1.0:
        raise AnalysisParameterError(f"roll_percent must be in (0, 1), got {roll_percent}")
    power = _check_spectrogram(S_power, name="S_power")
    n_bins, n_frames = power.shape
    if n_bins != 1 + n_fft // 2:
        raise AnalysisParameterError(f"S_power has {n_bins} bins, expected 1 + n_fft // 2 = {1 + n_fft // 2}")
    magnitude = np.sqrt(power)
    n_blocks = n_bins // _ROLLOFF_BLOCK
    blocked = n_blocks * _ROLLOFF_BLOCK
    # Cumulative magnitude per block (cheap), then a cumulative sum inside the one block that crosses the threshold.
    block_sums = np.add.reduce(magnitude[:blocked].reshape(n_blocks, _ROLLOFF_BLOCK, n_frames), axis=1)
    cumulative = _cumsum_rows(block_sums.astype(np.float64))
    total = cumulative[-1] + magnitude[blocked:].sum(axis=0, dtype=np.float64)
    threshold = roll_percent * total
    block = (cumulative < threshold).sum(axis=0)
    columns = np.arange(n_frames)
    before = np.where(block > 0, cumulative[np.maximum(block - 1, 0), columns], 0.0)
    rows = np.minimum(block * _ROLLOFF_BLOCK + np.arange(_ROLLOFF_BLOCK)[:, np.newaxis], n_bins - 1)
    # A flat gather (np.take) is several times faster than 2-D fancy indexing here.
    inside = _cumsum_rows(np.take(magnitude.reshape(-1), rows * n_frames + columns))
    offset = (inside < (threshold - before).astype(np.float32)).sum(axis=0)
    bin_index = np.minimum(block * _ROLLOFF_BLOCK + offset, n_bins - 1)
    rolloff = bin_index.astype(np.float64) * (sr / n_fft)
    rolloff[total <= 0.0] = 0.0
    out: Float32Array = rolloff.astype(np.float32)
    return out


def _cumsum_rows(x: FloatArray) -> FloatArray:
    """Cumulative sum down the rows of a short, wide array (numpy's axis-0 cumsum is several times slower)."""
    out = np.empty_like(x)
    if x.shape[0]:
        out[0] = x[0]
    for row in range(1, x.shape[0]):
        np.add(out[row - 1], x[row], out=out[row])
    return out


def spectral_flatness(*, S_power: Float32Array, amin: float = FLATNESS_AMIN) -> Float32Array:
    """Compute the spectral flatness (Wiener entropy) of each frame as a ratio in ``[0, 1]``.

    Flatness is the geometric mean of the power bins over their arithmetic mean, each bin floored at ``amin``
    (librosa's ``spectral_flatness`` with ``power=2``). It is 1 for a perfectly flat spectrum and near 0 for a
    tone; convert to dB with ``10 * log10(flatness)``.

    Parameters
    ----------
    S_power : np.ndarray, shape (n_bins, n_frames)
        Power spectrogram from :func:`analysis.spectrum.power_spectrogram`.
    amin : float
        Floor of each power bin, in ``(0, 1)``.

    Returns
    -------
    np.ndarray, shape (n_frames,), float32
        Flatness in ``[0, 1]``. White noise reads about 0.56 (the geometric mean of an exponentially distributed
        periodogram is ``exp(-0.577)`` times its mean), a sine below ``1e-3``. Silent frames (mean floored power
        below ``2 * amin``: every bin at or near the floor) read ``0.0``, not the 1.0 of a floored flat spectrum,
        because silence is not noise.

    Raises
    ------
    AnalysisParameterError
        If ``S_power`` is not 2-D or ``amin`` is out of range.
    """
    if not 0.0 < amin < 1.0:
        raise AnalysisParameterError(f"amin must be in (0, 1), got {amin}")
    power = _check_spectrogram(S_power, name="S_power")
    n_bins, n_frames = power.shape
    floor = np.float32(amin)
    group = 2**_FLATNESS_LEVELS
    grouped = (n_bins // group) * group
    log_sum = np.zeros(n_frames, dtype=np.float64)
    floored_sum = np.zeros(n_frames, dtype=np.float64)
    if grouped:
        floored = np.maximum(power[:grouped], floor)
        # float32 accumulation over at most a few thousand bins: relative error ~1e-6, far below what matters.
        floored_sum += np.add.reduce(floored, axis=0)
        with np.errstate(over="ignore", under="ignore", divide="ignore"):
            # Products of halves: each level halves the rows, so one log covers 2**levels bins. The scale is applied
            # after the first product, to half as many values.
            half = grouped // 2
            product = floored[:half] * floored[half:]
            product *= _FLATNESS_SCALE**2
            for _ in range(_FLATNESS_LEVELS - 1):
                half = product.shape[0] // 2
                product = product[:half] * product[half:]
            logs = np.log(product)
        log_sum += logs.sum(axis=0, dtype=np.float64) - grouped * np.log(float(_FLATNESS_SCALE))
        # Bins beyond the expected range (amin far below 1e-10, or not a spectrogram of audio in [-1, 1]) can
        # over- or underflow a product: those frames take the direct, slower sum of logs.
        unsafe = ~np.isfinite(log_sum)
        if unsafe.any():
            direct = np.maximum(power[:grouped, unsafe], floor).astype(np.float64)
            log_sum[unsafe] = np.log(direct).sum(axis=0)
    if grouped < n_bins:
        rest = np.maximum(power[grouped:], floor).astype(np.float64)
        log_sum += np.log(rest).sum(axis=0)
        floored_sum += rest.sum(axis=0)
    arithmetic = floored_sum / max(n_bins, 1)
    geometric = np.exp(log_sum / max(n_bins, 1))
    flatness = np.divide(geometric, arithmetic, out=np.zeros(n_frames), where=arithmetic > 2.0 * amin)
    out: Float32Array = np.clip(flatness, 0.0, 1.0).astype(np.float32)
    return out


def mfcc(*, S_db: Float32Array, n_mfcc: int = 13) -> Float32Array:
    """Compute mel-frequency cepstral coefficients from a log-power mel spectrogram.

    The coefficients are the orthonormal type-II DCT of each frame's log-mel spectrum, truncated to the first
    ``n_mfcc`` (librosa's ``mfcc(S=S_db)``). Coefficient 0 is the mean log-mel level times ``sqrt(n_mels)``; the
    others describe the spectral envelope independently of level.

    Parameters
    ----------
    S_db : np.ndarray, shape (n_mels, n_frames)
        Log-power mel spectrogram in dB from :func:`analysis.spectrum.mel_db`.
    n_mfcc : int
        Number of coefficients, at most ``n_mels``.

    Returns
    -------
    np.ndarray, shape (n_mfcc, n_frames), float32
        MFCCs in dB-scaled units (rows = coefficients, like :func:`analysis.spectrum.chroma`).

    Raises
    ------
    AnalysisParameterError
        If ``S_db`` is not 2-D or ``n_mfcc`` exceeds its number of bands.
    """
    n_mfcc = check_positive_int(n_mfcc, name="n_mfcc")
    mel = _check_spectrogram(S_db, name="S_db")
    n_mels = mel.shape[0]
    if n_mfcc > n_mels:
        raise AnalysisParameterError(f"n_mfcc ({n_mfcc}) must not exceed the number of mel bands ({n_mels})")
    # The DCT as a small matrix: (n_mfcc, n_mels) @ (n_mels, n_frames) is cheaper than transforming every band.
    basis = scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc].astype(np.float32)
    coefficients: Float32Array = basis @ mel
    return coefficients
