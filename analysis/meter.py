"""Time signature and downbeats from tracked beats.

Conventions: beats are given as frame indices of the shared spectrogram grid (frame ``i`` at
``i * hop_length / sr`` seconds, increasing); the time signature is the number of beats per bar (3 or 4; duple
meters such as 2/4 and 2/2 are reported as 4, because a 4-beat bar grid covers them).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.ndimage

from analysis._typing import Float32Array, Float64Array, IntArray
from analysis._validate import check_positive_int, check_sr
from analysis.errors import AnalysisParameterError

__all__ = ["Meter", "estimate_meter", "pitch_class_frames"]

_METERS = (4, 3)
# A triple meter must beat the duple one by this factor: most produced music is in 4, and a weak preference
# for 3 is more often noise than a waltz.
_TRIPLE_MARGIN = 1.15
_MIN_BEATS_FOR_METER = 8
_CHROMA_FMIN_HZ = 80.0
_CHROMA_FMAX_HZ = 4000.0
_PEAK_RADIUS = 2


@dataclass(frozen=True, slots=True)
class Meter:
    """Bar structure over a beat sequence.

    Attributes
    ----------
    time_signature : int
        Beats per bar, 3 or 4.
    first_downbeat : int
        Index (into the beat sequence) of the first beat that starts a bar, in ``[0, time_signature)``.
    confidence : float
        In ``[0, 1]``: how much more the chosen bar position stands out than the best alternative (0 when there
        are too few beats to decide).
    """

    time_signature: int
    first_downbeat: int
    confidence: float


def estimate_meter(
    *,
    beat_frames: IntArray,
    pitch_classes: Float32Array,
    low_envelope: Float32Array,
    full_envelope: Float32Array,
) -> Meter:
    """Choose the time signature and the bar phase that best explain accents at the beats.

    Three cues per beat, each standardised over the beats (Goto's bar-level cues): the harmonic change into the
    beat (chords tend to change on bar starts; cosine distance between the pitch-class profiles of the
    inter-beat segments before and after it), the bass onset strength (kick drum and bass notes mark bar
    starts), and the backbeat balance, bass minus upper-band onset strength (kick on beats 1 and 3, snare on 2
    and 4). The contrast of meter ``m`` and phase ``p`` is how much beats ``p, p + m, ...`` exceed the mean in
    harmonic change and bass, plus, for 4, half the backbeat balance of beats ``p, p + 2, ...`` over the
    others. The best (meter, phase) wins, with 3 needing a 15 % larger contrast than 4.

    Parameters
    ----------
    beat_frames : np.ndarray, shape (n_beats,), int
        Increasing beat positions in spectrogram frames.
    pitch_classes : np.ndarray, shape (12, n_frames)
        Pitch-class magnitude per frame of the spectrogram the beats were tracked on (:func:`pitch_class_frames`).
    low_envelope : np.ndarray, shape (n_frames,)
        Bass-band onset envelope (``analysis.tempo.superflux_envelopes(...).low``).
    full_envelope : np.ndarray, shape (n_frames,)
        All-band onset envelope (``analysis.tempo.superflux_envelopes(...).full``).

    Returns
    -------
    Meter
        With fewer than 8 beats, or accents that are all equal: ``time_signature=4``, ``first_downbeat`` at the
        beat with the strongest bass onset among the first four (0 with no beats) and ``confidence=0.0``.

    Raises
    ------
    AnalysisParameterError
        If the shapes disagree or the beats are not increasing frame indices inside the spectrogram.

    References
    ----------
    M. Goto, "An audio-based real-time beat tracking system for music with or without drum-sounds", J. New Music
    Research 30(2), 2001 (chord changes and bass drums as bar-level cues).
    """
    beats = np.asarray(beat_frames, dtype=np.int64)
    low = np.asarray(low_envelope, dtype=np.float64)
    full = np.asarray(full_envelope, dtype=np.float64)
    n_frames = pitch_classes.shape[1] if pitch_classes.ndim == 2 else -1
    if pitch_classes.shape[0] != 12 or low.shape != (n_frames,) or full.shape != low.shape:
        raise AnalysisParameterError(
            f"pitch_classes {pitch_classes.shape}, low_envelope {low.shape} and full_envelope {full.shape} must"
            " share n_frames, with 12 rows in pitch_classes"
        )
    if beats.ndim != 1 or (beats.size and (beats[0] < 0 or beats[-1] >= n_frames or np.any(np.diff(beats) <= 0))):
        raise AnalysisParameterError("beat_frames must be increasing frame indices inside the spectrogram")
    if beats.size == 0:
        return Meter(time_signature=4, first_downbeat=0, confidence=0.0)
    bass = _peak_at(low, beats)
    if beats.size < _MIN_BEATS_FOR_METER:
        return Meter(time_signature=4, first_downbeat=int(np.argmax(bass[:4])), confidence=0.0)
    bass_z = _standardise(bass)
    accent = bass_z + _standardise(_harmonic_change(pitch_classes, beats))
    backbeat = bass_z - _standardise(_peak_at(np.maximum(full - low, 0.0), beats))
    if not (np.any(accent) or np.any(backbeat)):
        return Meter(time_signature=4, first_downbeat=int(np.argmax(bass[:4])), confidence=0.0)
    contrasts: dict[tuple[int, int], float] = {}
    for meter in _METERS:
        for phase in range(meter):
            contrast = float(accent[phase::meter].mean() - accent.mean())
            if meter == 4:
                contrast += 0.5 * float(backbeat[phase % 2 :: 2].mean() - backbeat[1 - phase % 2 :: 2].mean())
            contrasts[(meter, phase)] = contrast
    best4 = max((contrasts[(4, p)], p) for p in range(4))
    best3 = max((contrasts[(3, p)], p) for p in range(3))
    if best3[0] > _TRIPLE_MARGIN * max(best4[0], 0.0) and best3[0] > 0.0:
        meter, (score, phase) = 3, best3
    else:
        meter, (score, phase) = 4, best4
    runner_up = max(value for key, value in contrasts.items() if key != (meter, phase))
    confidence = float(np.clip((score - runner_up) / (abs(score) + abs(runner_up) + 1e-9), 0.0, 1.0))
    return Meter(time_signature=meter, first_downbeat=int(phase), confidence=round(confidence, 3))


def _peak_at(envelope: Float64Array, frames: IntArray) -> Float64Array:
    """Take the largest envelope value within two frames of each position (onsets and beats rarely share a frame)."""
    peaks: Float64Array = scipy.ndimage.maximum_filter1d(envelope, size=2 * _PEAK_RADIUS + 1, mode="nearest")
    return peaks[frames]


def _standardise(x: Float64Array) -> Float64Array:
    spread = float(x.std())
    if spread <= 1e-12:
        return np.zeros_like(x)
    out: Float64Array = (x - x.mean()) / spread
    return out


def pitch_class_frames(S_power: Float32Array, *, sr: int, n_fft: int) -> Float32Array:
    """Sum the spectral magnitude from 80 Hz to 4 kHz into the 12 pitch classes, frame by frame.

    Parameters
    ----------
    S_power : np.ndarray, shape (1 + n_fft // 2, n_frames)
        Power spectrogram (or a block of its frames).
    sr : int
        Sampling rate of the analysed signal in Hz.
    n_fft : int
        FFT length used for ``S_power``.

    Returns
    -------
    np.ndarray, shape (12, n_frames), float32
        Magnitude per pitch class C..B, each bin sent to its nearest equal-tempered class (A = 440 Hz).

    Raises
    ------
    AnalysisParameterError
        If ``S_power`` does not have ``1 + n_fft // 2`` rows.
    """
    sr = check_sr(sr)
    n_fft = check_positive_int(n_fft, name="n_fft")
    if S_power.ndim != 2 or S_power.shape[0] != 1 + n_fft // 2:
        raise AnalysisParameterError(f"S_power must have shape (1 + n_fft // 2, n_frames), got {S_power.shape}")
    pitch_map, lo, hi = _pitch_class_map(sr, n_fft)
    frames: Float32Array = pitch_map @ np.sqrt(S_power[lo:hi], dtype=np.float32)
    return frames


def _harmonic_change(pitch_classes: Float32Array, beats: IntArray) -> Float64Array:
    """Measure the cosine distance between the pitch-class profiles before and after each beat (0 at beat 0)."""
    frames = pitch_classes[:, beats[0] :]
    profiles = np.add.reduceat(frames, beats - beats[0], axis=1).astype(np.float64)
    norms = np.linalg.norm(profiles, axis=0)
    unit = np.divide(profiles, norms, out=np.zeros_like(profiles), where=norms > 1e-12)
    change = np.zeros(beats.size, dtype=np.float64)
    change[1:] = 1.0 - np.sum(unit[:, 1:] * unit[:, :-1], axis=0)
    change[1:][(norms[1:] <= 1e-12) | (norms[:-1] <= 1e-12)] = 0.0
    return change


@functools.cache
def _pitch_class_map(sr: int, n_fft: int) -> tuple[Float32Array, int, int]:
    """Build a (12, hi - lo) 0/1 matrix sending each FFT bin in ``[lo, hi)`` (80 Hz to 4 kHz) to its pitch class."""
    freqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    used = np.flatnonzero((freqs >= _CHROMA_FMIN_HZ) & (freqs <= _CHROMA_FMAX_HZ))
    lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 0)
    pitch_class = np.round(12.0 * np.log2(np.maximum(freqs[lo:hi], 1.0) / 440.0)).astype(np.int64) % 12
    out = np.zeros((12, hi - lo), dtype=np.float32)
    out[pitch_class, np.arange(hi - lo)] = 1.0
    out.setflags(write=False)
    return out, lo, hi
