"""Pure audio analysis for reference tracks: arrays in, frozen results out.

Only :mod:`analysis.io` touches files. Every error is an :class:`~analysis.errors.AnalysisError`.
"""

from __future__ import annotations

from analysis._threads import set_threads
from analysis._version import ANALYZER_VERSION
from analysis.errors import AnalysisError, AnalysisParameterError, AudioDecodeError
from analysis.pipeline import analyze
from analysis.types import AudioInfo, DecodedAudio, Event, FeatureSeries, TrackAnalysis, WaveformPeaks

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
