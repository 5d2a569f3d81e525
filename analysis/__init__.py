"""Pure audio analysis for reference tracks: arrays in, frozen results out.

Only :mod:`analysis.io` touches files. Every error is an :class:`~analysis.errors.AnalysisError`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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


def __getattr__(name: str) -> object:
    # The pipeline imports scipy and numba, seconds of start-up: loaded on first use, so a process that only
    # probes files or reads stored waveforms (the API) never pays for it.
    if name == "analyze":
        from analysis.pipeline import analyze

        return analyze
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
