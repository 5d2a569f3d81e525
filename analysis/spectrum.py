"""Short-time spectra and spectral features computed from one shared STFT.

Conventions: ``y`` is mono float audio, ``sr`` in Hz; spectrograms are ``(n_bins, n_frames)`` with
``n_bins = 1 + n_fft // 2``; frames are centred (frame ``i`` is centred on ``i * hop_length / sr`` seconds, the
signal is zero-padded by ``n_fft // 2`` at both ends) and use a periodic Hann window.
"""

from __future__ import annotations

import warnings

import librosa
import numpy as np
import scipy.fft

from analysis._mel import mel_filterbank
from analysis._threads import fft_threads
from analysis._typing import Float32Array
from analysis._validate import check_positive_int, check_sr
from analysis._windows import hann
from analysis.errors import AnalysisParameterError

__all__ = ["chroma", "mel_db", "power_spectrogram", "power_to_db", "spectral_centroid"]

# Frames transformed per FFT call, which bounds the temporary complex buffer to about 8 MB.
_FRAMES_PER_BLOCK = 1024
_TUNING_FRAMES = 200


def power_spectrogram(y: Float32Array, *, n_fft: int = 2048, hop_length: int = 512) -> Float32Array:
    """Compute the centred, Hann-windowed power spectrogram ``|STFT|**2``.

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,)
        Mono audio.
    n_fft : int
        FFT and window length in samples.
    hop_length : int
        Samples between frames.

    Returns
    -------
    np.ndarray, shape (1 + n_fft // 2, 1 + n_samples // hop_length), float32
        Unnormalised power (sum of the squared windowed samples times ``n_fft``, by Parseval). The signal is
        zero-padded by ``n_fft // 2`` at both ends (and further if shorter than one window).

    Raises
    ------
    AnalysisParameterError
        If ``y`` is not 1-D or the sizes are not positive.
    """
    n_fft = check_positive_int(n_fft, name="n_fft")
    hop_length = check_positive_int(hop_length, name="hop_length")
    if y.ndim != 1:
        raise AnalysisParameterError(f"y must be mono (1-D), got shape {y.shape}")
    x = np.asarray(y, dtype=np.float32)
    n_frames = 1 + x.size // hop_length
    padded = np.pad(x, n_fft // 2)
    if padded.size < n_fft + (n_frames - 1) * hop_length:
        padded = np.pad(padded, (0, n_fft + (n_frames - 1) * hop_length - padded.size))
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop_length][:n_frames]
    window = hann(n_fft).astype(np.float32)
    power = np.empty((1 + n_fft // 2, n_frames), dtype=np.float32)
    for start in range(0, n_frames, _FRAMES_PER_BLOCK):
        spectrum = scipy.fft.rfft(frames[start : start + _FRAMES_PER_BLOCK] * window, axis=1, workers=fft_threads())
        power[:, start : start + _FRAMES_PER_BLOCK] = (spectrum.real**2 + spectrum.imag**2).T
    return power


def spectral_centroid(*, S_power: Float32Array, sr: int, n_fft: int) -> Float32Array:
    """Compute the magnitude-weighted mean frequency of each frame.

    Parameters
    ----------
    S_power : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Power spectrogram from :func:`power_spectrogram`.
    sr : int
        Sampling rate of the analysed signal in Hz.
    n_fft : int
        FFT length used for ``S_power``.

    Returns
    -------
    np.ndarray, shape (n_frames,), float32
        Centroid in Hz; ``0.0`` for silent frames (no spectral magnitude).
    """
    sr = check_sr(sr)
    magnitude = np.sqrt(S_power, dtype=np.float32)
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr).astype(np.float32)
    total = magnitude.sum(axis=0)
    weighted = freqs @ magnitude
    centroid: Float32Array = np.divide(weighted, total, out=np.zeros_like(total), where=total > 1e-10)
    return centroid.astype(np.float32)


def mel_db(*, S_power: Float32Array, sr: int, n_fft: int, n_mels: int = 128, top_db: float = 80.0) -> Float32Array:
    """Compute a log-power mel spectrogram.

    Parameters
    ----------
    S_power : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Power spectrogram.
    sr : int
        Sampling rate in Hz.
    n_fft : int
        FFT length used for ``S_power``.
    n_mels : int
        Number of mel bands (Slaney mel scale, area-normalised filters, up to ``sr / 2``).
    top_db : float
        Floor relative to the loudest cell, in dB.

    Returns
    -------
    np.ndarray, shape (n_mels, n_frames), float32
        Power in dB relative to 1.0, floored at ``max - top_db`` and at -100 dB.
    """
    sr = check_sr(sr)
    basis = mel_filterbank(sr=sr, n_fft=n_fft, n_mels=n_mels)
    return power_to_db(basis @ S_power, top_db=top_db)


def power_to_db(power: Float32Array, *, top_db: float = 80.0) -> Float32Array:
    """Convert power to dB relative to 1.0, floored at ``max - top_db`` and at -100 dB (librosa's ``power_to_db``).

    Parameters
    ----------
    power : np.ndarray
        Non-negative power values, e.g. mel band powers.
    top_db : float
        Floor relative to the loudest value, in dB.

    Returns
    -------
    np.ndarray, float32
        Same shape as ``power``.
    """
    db: Float32Array = np.maximum(np.asarray(power, dtype=np.float32), np.float32(1e-10))
    np.log10(db, out=db)
    db *= np.float32(10.0)
    if db.size:
        np.maximum(db, db.max() - np.float32(top_db), out=db)
    return db


def chroma(
    *,
    S_power: Float32Array,
    sr: int,
    n_fft: int,
    tuning: float | None = None,
    fmin_hz: float = 50.0,
    fmax_hz: float = 5000.0,
    normalize: bool = True,
) -> Float32Array:
    """Compute a 12-bin pitch-class profile per frame from a power spectrogram.

    Each FFT bin between ``fmin_hz`` and ``fmax_hz`` contributes its magnitude to the pitch class of its
    (tuning-corrected) frequency, spread with a Gaussian over neighbouring classes (librosa's chroma filter bank,
    without its octave weighting, rows scaled to equal total weight so white noise gives a flat chroma).
    Resolving bass notes needs a long window: about 4096 samples at 11025 Hz (2.7 Hz bins).

    Parameters
    ----------
    S_power : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Power spectrogram.
    sr : int
        Sampling rate in Hz.
    n_fft : int
        FFT length used for ``S_power``.
    tuning : float or None
        Deviation from A440 in fractions of a chroma bin (``[-0.5, 0.5)``); estimated from the spectrum if None.
    fmin_hz, fmax_hz : float
        Frequency range considered.
    normalize : bool
        Scale each frame to a maximum of 1 (silent frames stay zero); otherwise return raw magnitudes.

    Returns
    -------
    np.ndarray, shape (12, n_frames), float32
        Chroma with rows C, C#, ..., B.
    """
    sr = check_sr(sr)
    if tuning is None:
        tuning = _estimate_tuning(S_power=S_power, sr=sr, n_fft=n_fft)
    basis = librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, ctroct=5.0, octwidth=None, norm=None)
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    basis[:, (freqs < fmin_hz) | (freqs > fmax_hz)] = 0.0
    # Equal total weight per pitch class, so a flat (white) spectrum gives a flat chroma.
    basis /= np.maximum(basis.sum(axis=1, keepdims=True), 1e-12)
    used = np.flatnonzero(basis.any(axis=0))
    lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 0)
    raw: Float32Array = basis[:, lo:hi].astype(np.float32) @ np.sqrt(S_power[lo:hi], dtype=np.float32)
    if not normalize:
        return raw.astype(np.float32)
    peak = raw.max(axis=0, initial=0.0)
    out: Float32Array = np.divide(raw, peak, out=np.zeros_like(raw), where=peak > 1e-8)
    return out


def _estimate_tuning(*, S_power: Float32Array, sr: int, n_fft: int) -> float:
    """Tuning offset in chroma bins from the spectral peaks; 0.0 when there are none (silence, tiny clips)."""
    if S_power.shape[1] == 0 or float(S_power.max(initial=0.0)) <= 1e-10:
        return 0.0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Trying to estimate tuning", category=UserWarning)
        # Tuning is a global property: a few hundred evenly spread frames estimate it as well as all of them.
        step = max(1, S_power.shape[1] // _TUNING_FRAMES)
        tuning = float(librosa.estimate_tuning(S=S_power[:, ::step], sr=sr, n_fft=n_fft))
    return tuning if np.isfinite(tuning) else 0.0
