"""Version of the analysis algorithms; bump it whenever results for the same input can change."""

from __future__ import annotations

__all__ = ["ANALYZER_VERSION"]

ANALYZER_VERSION = "0.2.0"
