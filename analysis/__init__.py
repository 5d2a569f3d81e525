"""Pure audio analysis for reference tracks: arrays in, frozen results out.

Only :mod:`analysis.io` touches files. Every error is an :class:`~analysis.errors.AnalysisError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from analysis._threads import set_threads
from analysis._version import ANALYZER_VERSION
from analysis.errors import AnalysisError, AnalysisParameterError, AudioDecodeError
from analysis.types import AudioInfo, DecodedAudio, Event, FeatureSeries, TrackAnalysis, WaveformPeaks

if TYPE_CHECKING:
    from analysis.pipeline import analyze

__all__ = [
    "ANALYZER_VERSION",
    "AnalysisError",
    "AnalysisParameterError",
    "AudioDecodeError",
    "AudioInfo",
    "DecodedAudio",
    "Event",
    "FeatureSeries",
    "TrackAnalysis",
    "WaveformPeaks",
    "analyze",
    "set_threads",
]


def __getattr__(name: str) -> Any:
    # The pipeline imports scipy, librosa and numba (about two seconds): it loads on first use, so that the
    # service can share the analysis' names (bands, pitch classes) without paying for it at start-up.
    if name == "analyze":
        from analysis.pipeline import analyze

        return analyze
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
