"""Exceptions raised by the analysis package.

Every exception derives from :class:`AnalysisError` and carries a human-readable message that can be shown to a
user as-is. Callers treat any ``AnalysisError`` as a permanent failure of that input: retrying will not help.
"""

from __future__ import annotations

__all__ = [
    "AnalysisError",
    "AnalysisParameterError",
    "AudioDecodeError",
    "UnsupportedAudioError",
    "WaveformFormatError",
]


class AnalysisError(Exception):
    """Base class of every error raised by :mod:`analysis`."""


class AnalysisParameterError(AnalysisError):
    """An argument is out of range, of the wrong shape or otherwise unusable."""


class AudioDecodeError(AnalysisError):
    """A file is not audio, is empty or truncated, or uses an unsupported encoding."""


class UnsupportedAudioError(AudioDecodeError):
    """A file is not audio at all, or audio in a container or codec that cannot be decoded."""


class WaveformFormatError(AnalysisError, ValueError):
    """Bytes that are not an audiowaveform ``.dat`` file, or one cut short."""
