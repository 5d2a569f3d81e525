"""Musical key estimation from chroma.

Conventions: chroma rows are pitch classes C, C#, ..., B; keys are spelled with sharps, ``"<tonic> major"`` or
``"<tonic> minor"`` (e.g. ``"C# major"``, ``"A minor"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from analysis._typing import Float32Array, Float64Array
from analysis.errors import AnalysisParameterError

__all__ = ["KEY_PROFILES", "PITCH_CLASSES", "KeyEstimate", "estimate_key"]

PITCH_CLASSES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

ProfileName = Literal["krumhansl", "temperley", "albrecht", "shaath"]

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
    # I. Sha'ath, "Estimation of key in digital music recordings" (KeyFinder), 2011.
    "shaath": (
        (6.6, 2.0, 3.5, 2.3, 4.6, 4.0, 2.5, 5.2, 2.4, 3.7, 2.3, 3.4),
        (6.5, 2.7, 3.5, 5.4, 2.6, 3.5, 2.5, 5.2, 4.0, 2.7, 4.3, 3.2),
    ),
}

# Below this relative spread (std / mean) the averaged chroma is treated as atonal (noise, drums only, silence).
_MIN_CHROMA_SPREAD = 0.04


@dataclass(frozen=True, slots=True)
class KeyEstimate:
    """Estimated key.

    Attributes
    ----------
    key : str or None
        ``"<tonic> major|minor"`` with sharps, or ``None`` when the signal has no tonal content.
    confidence : float
        In ``[0, 1]``: the best correlation (clipped at 0) times the relative margin over the runner-up key,
        ``r1 * min(1, (r1 - r2) / 0.1)``. ``0.0`` when ``key`` is ``None``.
    scores : np.ndarray, shape (24,), float64
        Pearson correlation with each key: 12 major keys from C, then 12 minor keys from C; zeros if atonal.
    """

    key: str | None
    confidence: float
    scores: Float64Array


def estimate_key(
    *, chroma: Float32Array, weights: Float32Array | None = None, profile: ProfileName = "shaath"
) -> KeyEstimate:
    """Estimate the global key by correlating the average chroma with rotated key profiles.

    Parameters
    ----------
    chroma : np.ndarray, shape (12, n_frames)
        Non-negative chroma, rows C..B (e.g. :func:`analysis.spectrum.chroma`).
    weights : np.ndarray, shape (n_frames,) or None
        Non-negative per-frame weights (e.g. linear frame energy); uniform if None.
    profile : {"krumhansl", "temperley", "albrecht", "shaath"}
        Key profiles to correlate with (see :data:`KEY_PROFILES`).

    Returns
    -------
    KeyEstimate
        ``key=None`` and ``confidence=0.0`` when there are no frames, all weights/chroma are zero, or the
        averaged chroma is nearly flat (white noise, unpitched drums).

    Raises
    ------
    AnalysisParameterError
        If ``chroma`` does not have 12 rows, ``weights`` does not match its frames, or ``profile`` is unknown.

    References
    ----------
    C. L. Krumhansl, "Cognitive Foundations of Musical Pitch", Oxford University Press, 1990.
    """
    if chroma.ndim != 2 or chroma.shape[0] != 12:
        raise AnalysisParameterError(f"chroma must have shape (12, n_frames), got {chroma.shape}")
    if profile not in KEY_PROFILES:
        raise AnalysisParameterError(f"unknown key profile {profile!r}; choose from {sorted(KEY_PROFILES)}")
    if weights is not None and weights.shape != (chroma.shape[1],):
        raise AnalysisParameterError(f"weights must have shape ({chroma.shape[1]},), got {weights.shape}")
    atonal = KeyEstimate(key=None, confidence=0.0, scores=np.zeros(24))
    c = np.asarray(chroma, dtype=np.float64)
    w = np.ones(c.shape[1]) if weights is None else np.asarray(weights, dtype=np.float64)
    if c.shape[1] == 0 or float(w.sum()) <= 0.0:
        return atonal
    profile_vector = c @ (w / w.sum())
    mean = float(profile_vector.mean())
    if mean <= 1e-9 or float(profile_vector.std()) / mean < _MIN_CHROMA_SPREAD:
        return atonal
    major, minor = (np.asarray(p, dtype=np.float64) for p in KEY_PROFILES[profile])
    templates = np.stack([np.roll(major, k) for k in range(12)] + [np.roll(minor, k) for k in range(12)])
    scores = np.array([np.corrcoef(profile_vector, t)[0, 1] for t in templates])
    order = np.argsort(scores)[::-1]
    r1, r2 = float(scores[order[0]]), float(scores[order[1]])
    best = int(order[0])
    key = f"{PITCH_CLASSES[best % 12]} {'major' if best < 12 else 'minor'}"
    confidence = max(r1, 0.0) * min(1.0, (r1 - r2) / 0.1)
    return KeyEstimate(key=key, confidence=round(float(np.clip(confidence, 0.0, 1.0)), 3), scores=scores)
