"""Pitch-class names: how every key the analysis reports is spelled (sharps, from C).

A module of its own, free of numpy, so that readers of stored keys can share the spelling without importing
the estimator.
"""

from __future__ import annotations

__all__ = ["PITCH_CLASSES"]

PITCH_CLASSES: tuple[str, ...] = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
