"""The Slaney mel scale and its triangular filter bank, as librosa computes them.

Same as ``librosa.filters.mel`` with ``htk=False`` and ``norm="slaney"``, without importing librosa: its first
import costs seconds of start-up.
"""

from __future__ import annotations

import functools

import numpy as np

from analysis._typing import Float32Array, Float64Array

__all__ = ["mel_filterbank", "mel_frequencies"]

_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def _hz_to_mel(hz: Float64Array) -> Float64Array:
    mel = hz / _F_SP
    log = hz >= _MIN_LOG_HZ
    mel[log] = _MIN_LOG_MEL + np.log(hz[log] / _MIN_LOG_HZ) / _LOGSTEP
    return mel


def _mel_to_hz(mel: Float64Array) -> Float64Array:
    hz = _F_SP * mel
    log = mel >= _MIN_LOG_MEL
    hz[log] = _MIN_LOG_HZ * np.exp(_LOGSTEP * (mel[log] - _MIN_LOG_MEL))
    return hz


def mel_frequencies(*, n_mels: int, fmin: float, fmax: float) -> Float64Array:
    """Return ``n_mels`` frequencies evenly spaced on the Slaney mel scale from ``fmin`` to ``fmax``.

    Parameters
    ----------
    n_mels : int
        Number of frequencies.
    fmin, fmax : float
        Lowest and highest frequency in Hz.

    Returns
    -------
    np.ndarray, shape (n_mels,), float64
        Frequencies in Hz.
    """
    edges = _hz_to_mel(np.array([fmin, fmax], dtype=np.float64))
    return _mel_to_hz(np.linspace(edges[0], edges[1], n_mels))


@functools.cache
def mel_filterbank(*, sr: int, n_fft: int, n_mels: int, fmin: float = 0.0, fmax: float | None = None) -> Float32Array:
    """Return the triangular, area-normalised mel filter bank (cached per parameter set; do not modify it).

    Parameters
    ----------
    sr : int
        Sampling rate in Hz.
    n_fft : int
        FFT length.
    n_mels : int
        Number of bands.
    fmin, fmax : float
        Frequency range in Hz; ``fmax`` defaults to ``sr / 2``.

    Returns
    -------
    np.ndarray, shape (n_mels, 1 + n_fft // 2), float32
        Weights, equal to ``librosa.filters.mel`` with the same arguments.
    """
    top = sr / 2.0 if fmax is None else fmax
    fft_hz = np.fft.rfftfreq(n_fft, 1.0 / sr)
    edges = mel_frequencies(n_mels=n_mels + 2, fmin=fmin, fmax=top)
    widths = np.diff(edges)
    ramps = edges[:, np.newaxis] - fft_hz[np.newaxis, :]
    lower = -ramps[:-2] / widths[:-1, np.newaxis]
    upper = ramps[2:] / widths[1:, np.newaxis]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, np.newaxis]
    bank: Float32Array = weights.astype(np.float32)
    bank.setflags(write=False)
    return bank
