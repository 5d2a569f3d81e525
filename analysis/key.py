"""Musical key estimation.

Conventions: chroma rows are pitch classes C, C#, ..., B; keys are spelled with sharps, ``"<tonic> major"`` or
``"<tonic> minor"`` (e.g. ``"C# major"``, ``"A minor"``); key scores are Pearson correlations in ``[-1, 1]``,
12 major keys from C then 12 minor keys from C; tuning is in cents from A4 = 440 Hz.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from analysis._typing import Float32Array, Float64Array
from analysis.chroma import nnls_chroma
from analysis.errors import AnalysisParameterError
from analysis.pitch import PITCH_CLASSES

__all__ = ["KEY_PROFILES", "PITCH_CLASSES", "KeyEstimate", "estimate_key"]

ProfileName = Literal["krumhansl", "temperley", "albrecht", "shaath", "edma"]

# Major and minor key profiles, tonic first.
KEY_PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    # C. L. Krumhansl, "Cognitive Foundations of Musical Pitch", 1990 (Krumhansl & Kessler probe tones).
    "krumhansl": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
    # D. Temperley, "Music and Probability", 2007 (Kostka-Payne corpus).
    "temperley": (
        (0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
        (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330),
    ),
    # J. Albrecht and D. Shanahan, "The Use of Large Corpora to Train a New Type of Key-Finding Algorithm", 2013.
    "albrecht": (
        (0.238, 0.006, 0.111, 0.006, 0.137, 0.094, 0.016, 0.214, 0.009, 0.080, 0.008, 0.081),
        (0.220, 0.006, 0.104, 0.123, 0.019, 0.103, 0.012, 0.214, 0.062, 0.022, 0.061, 0.052),
    ),
    # I. Sha'ath, "Estimation of key in digital music recordings" (KeyFinder), 2011: tuned on popular music.
    "shaath": (
        (6.6, 2.0, 3.5, 2.3, 4.6, 4.0, 2.5, 5.2, 2.4, 3.7, 2.3, 3.4),
        (6.5, 2.7, 3.5, 5.4, 2.6, 3.5, 2.5, 5.2, 4.0, 2.7, 4.3, 3.2),
    ),
    # Á. Faraldo et al., "Key Estimation in Electronic Dance Music", ECIR 2016 ("edma", from Beatport EDM).
    "edma": (
        (1.0000, 0.2875, 0.5020, 0.4048, 0.6050, 0.5614, 0.3205, 0.7966, 0.3159, 0.4506, 0.4202, 0.3889),
        (1.0000, 0.3096, 0.4415, 0.5827, 0.3262, 0.4948, 0.2889, 0.7804, 0.4328, 0.2903, 0.5331, 0.3217),
    ),
}

# The bass chroma counts half as much as the treble chroma in the key profile (the bass line mostly plays roots,
# which over-weight the tonic and dominant relative to the published profiles).
_BASS_WEIGHT = 0.5
# Log compression of the summed chroma, log1p(gain * v / max v), so one loud pitch class cannot dominate the
# correlation (pitch-class presence matters more than loudness).
_COMPRESSION_GAIN = 10.0
# A pitch-class profile flatter than this (std / mean of the summed unit-sum frames) is atonal. Noise gives a
# profile whose relative spread shrinks as 1/sqrt(frames) (about 1.3 / sqrt(n) for white or pink noise through
# nnls_chroma), so short clips need twice that; music stays above 0.35 however long.
_MIN_SPREAD = 0.25
_NOISE_SPREAD = 2.5
# A precomputed chroma is not whitened: broadband energy flattens it, so only a nearly flat one is atonal.
_MIN_SPREAD_PRECOMPUTED = 0.04
# Margin between the best and the runner-up correlation that counts as a clear decision (confidence = r1).
_DECISIVE_MARGIN = 0.1


@dataclass(frozen=True, slots=True)
class KeyEstimate:
    """Estimated key, its runner-up, the tuning and the per-frame chroma they come from.

    Attributes
    ----------
    key : str or None
        ``"<tonic> major|minor"`` with sharps, or ``None`` when the signal has no tonal content.
    confidence : float
        In ``[0, 1]``; ``0.0`` when ``key`` is ``None``. See :func:`estimate_key`.
    score : float
        Correlation of the track's pitch-class profile with the best key profile, in ``[-1, 1]``; 0 if atonal.
    runner_up_key : str or None
        The second-best key (often the relative or a fifth away), ``None`` when ``key`` is ``None``.
    runner_up_score : float
        Its correlation; 0 if atonal.
    tuning_cents : float
        Tuning offset from A4 = 440 Hz in cents, in ``[-50, 50)``; ``0.0`` when unknown.
    scores : np.ndarray, shape (24,), float64
        Correlation with each key: 12 major keys from C, then 12 minor keys from C; zeros if atonal.
    chroma : np.ndarray, shape (12, n_frames), float32
        Pitch-class salience per frame (treble plus half the bass), rows C..B, each frame scaled to a maximum of 1;
        zero in silent frames.
    """

    key: str | None
    confidence: float
    score: float
    runner_up_key: str | None
    runner_up_score: float
    tuning_cents: float
    scores: Float64Array
    chroma: Float32Array


def estimate_key(
    *,
    y: Float32Array | None = None,
    sr: int = 22050,
    hop_length: int = 512,
    n_frames: int | None = None,
    chroma: Float32Array | None = None,
    profile: ProfileName = "shaath",
) -> KeyEstimate:
    """Estimate the global key and the tuning of a track.

    Treble and bass chroma come from NNLS approximate transcription of a tuning-compensated, whitened,
    percussion-suppressed log-frequency spectrum (:func:`analysis.chroma.nnls_chroma`); the bass counts half.
    Each active frame is scaled to unit sum (so loud passages do not outvote quiet ones), the frames are summed,
    log-compressed (``log1p(10 * v / max v)``) and correlated with the 24 rotations of a major and a minor key
    profile (Sha'ath's, made for popular music, by default).

    Parameters
    ----------
    y : np.ndarray, shape (n_samples,) or None
        Mono, DC-free audio at ``sr``. Exactly one of ``y`` and ``chroma`` is required.
    sr : int
        Sampling rate of ``y`` in Hz.
    hop_length : int
        Hop of the frame grid the returned ``chroma`` is reported on, in samples at ``sr``.
    n_frames : int or None
        Frames of that grid; ``1 + n_samples // hop_length`` if None.
    chroma : np.ndarray, shape (12, n_frames) or None
        Precomputed non-negative chroma (rows C..B) to use instead of ``y``: no bass chroma and no tuning estimate
        (``tuning_cents=0.0``), every frame with any energy counts, and only a nearly flat profile (relative
        spread below 0.04) is atonal.
    profile : {"shaath", "krumhansl", "temperley", "albrecht", "edma"}
        Key profiles to correlate with (see :data:`KEY_PROFILES`).

    Returns
    -------
    KeyEstimate
        The key and ``confidence``: the best correlation ``r1`` (clipped at 0) times its margin over the
        runner-up ``r2`` relative to 0.1, ``r1 * min(1, (r1 - r2) / 0.1)``. Clean chord progressions score above
        0.5; a key that is hard to tell from its relative or a neighbour on the circle of fifths scores low.

        Degenerate input gives ``key=None``, ``confidence=0.0``, ``score=0.0``, zero ``scores``:

        - silence and near-silence (every long frame below -70 dBFS): also ``tuning_cents=0.0`` and zero chroma;
        - noise (white, pink, brown) and unpitched drums: the summed pitch-class profile is nearly flat, its
          relative spread (std / mean) below ``max(0.25, 2.5 / sqrt(n))`` for ``n`` active long frames (noise
          averages towards flat as ``1 / sqrt(n)``, music does not);
        - clips under about a second: usually atonal by the same test (a handful of frames cannot be told from
          noise), unless strongly tonal.

    Raises
    ------
    AnalysisParameterError
        If both or neither of ``y`` and ``chroma`` are given, ``chroma`` does not have 12 rows, ``profile`` is
        unknown, or ``y``, ``sr``, ``hop_length`` or ``n_frames`` are invalid.

    References
    ----------
    M. Mauch and S. Dixon, "Approximate note transcription for the improved identification of difficult chords",
    Proc. ISMIR, 2010.
    I. Sha'ath, "Estimation of key in digital music recordings", MSc thesis, Birkbeck, University of London, 2011.
    """
    if (y is None) == (chroma is None):
        raise AnalysisParameterError("pass exactly one of y and chroma")
    if profile not in KEY_PROFILES:
        raise AnalysisParameterError(f"unknown key profile {profile!r}; choose from {sorted(KEY_PROFILES)}")
    if chroma is not None:
        if chroma.ndim != 2 or chroma.shape[0] != 12:
            raise AnalysisParameterError(f"chroma must have shape (12, n_frames), got {chroma.shape}")
        frames = np.asarray(chroma, dtype=np.float32)
        active = np.ones(frames.shape[1], dtype=bool)
        frame_index = np.arange(frames.shape[1])
        tuning = 0.0
    else:
        assert y is not None
        tonal = nnls_chroma(y=y, sr=sr, hop_length=hop_length, n_frames=n_frames)
        frames = tonal.treble + np.float32(_BASS_WEIGHT) * tonal.bass
        active, frame_index, tuning = tonal.active, tonal.frame_index, tonal.tuning_cents
    peak = frames.max(axis=0, initial=0.0)
    scaled = np.divide(frames, peak, out=np.zeros_like(frames), where=peak > 1e-8)
    display = np.ascontiguousarray(scaled[:, frame_index], dtype=np.float32)
    atonal = KeyEstimate(
        key=None,
        confidence=0.0,
        score=0.0,
        runner_up_key=None,
        runner_up_score=0.0,
        tuning_cents=tuning,
        scores=np.zeros(24),
        chroma=display,
    )
    total = frames.sum(axis=0, dtype=np.float64)
    usable = active & (total > 1e-8)
    n_usable = int(usable.sum())
    if n_usable == 0:
        return atonal
    # Unit-sum frames: every sounding frame votes equally, however loud.
    profile_vector = (frames[:, usable] / total[usable]).sum(axis=1, dtype=np.float64)
    spread = float(profile_vector.std() / profile_vector.mean())
    min_spread = _MIN_SPREAD_PRECOMPUTED if chroma is not None else max(_MIN_SPREAD, _NOISE_SPREAD / np.sqrt(n_usable))
    if spread < min_spread:
        return atonal
    scores = _correlations(np.log1p(_COMPRESSION_GAIN * profile_vector / profile_vector.max()), profile)
    order = np.argsort(scores)[::-1]
    best, second = int(order[0]), int(order[1])
    r1, r2 = float(scores[best]), float(scores[second])
    confidence = max(r1, 0.0) * min(1.0, (r1 - r2) / _DECISIVE_MARGIN)
    return KeyEstimate(
        key=_key_name(best),
        confidence=round(float(np.clip(confidence, 0.0, 1.0)), 3),
        score=round(r1, 4),
        runner_up_key=_key_name(second),
        runner_up_score=round(r2, 4),
        tuning_cents=tuning,
        scores=scores,
        chroma=display,
    )


def _correlations(profile_vector: Float64Array, profile: str) -> Float64Array:
    """Pearson correlation of a 12-bin profile with the 24 rotated key profiles (majors from C, then minors)."""
    major, minor = (np.asarray(p, dtype=np.float64) for p in KEY_PROFILES[profile])
    templates = np.stack([np.roll(major, k) for k in range(12)] + [np.roll(minor, k) for k in range(12)])
    templates -= templates.mean(axis=1, keepdims=True)
    templates /= np.linalg.norm(templates, axis=1, keepdims=True)
    centred = profile_vector - profile_vector.mean()
    norm = float(np.linalg.norm(centred))
    if norm <= 1e-12:
        return np.zeros(24)
    scores: Float64Array = templates @ (centred / norm)
    return scores


def _key_name(index: int) -> str:
    return f"{PITCH_CLASSES[index % 12]} {'major' if index < 12 else 'minor'}"
