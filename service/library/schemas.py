"""The library as the API shows it: each track with its latest analysis embedded."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from pydantic import AliasChoices, ConfigDict, Field

from service.analysis_run.schemas import ANALYSIS_EXAMPLE, AnalysisRead
from service.schemas import Schema

if TYPE_CHECKING:
    from service.analysis_run.models import AnalysisRun
    from service.track.models import Track

TRACK_EXAMPLE: dict[str, Any] = {
    "id": "59c994ae-b38a-4b76-b21c-ad849ec07835",
    "title": "Midnight City",
    "artist": "M83",
    "album": "Hurry Up, We're Dreaming",
    "genre": "Synth-pop",
    "bpm": 105.0,
    "key": "A minor",
    "loudness_lufs": -8.9,
    "duration_seconds": 243.96,
    "file_format": "flac",
    "sample_rate": 44100,
    "bit_depth": 16,
    "channels": 2,
    "size_bytes": 31874523,
    "content_sha256": "6144b8cb36e021997e3b87958257dc707baada2203e0fa8df2a610f750f2618f",
    "is_reference": True,
    "is_user_upload": False,
    "source": "upload",
    "source_url": None,
    "metadata": {"original_filename": "M83 - Midnight City.flac", "codec": "flac"},
    "has_waveform": True,
    "created_at": "2026-03-14T18:22:05.418302+00:00",
    "updated_at": "2026-03-14T18:22:14.771560+00:00",
    "analysis": ANALYSIS_EXAMPLE,
}

# The 202 answer to an upload: the file is probed and stored, its analysis queued.
_UPLOADED_EXAMPLE: dict[str, Any] = TRACK_EXAMPLE | {
    "bpm": None,
    "key": None,
    "loudness_lufs": None,
    "has_waveform": False,
    "updated_at": "2026-03-14T18:22:05.418302+00:00",
    "analysis": ANALYSIS_EXAMPLE
    | {
        "analyzer_version": None,
        "status": "queued",
        "parameters": {},
        "results": None,
        "attempts": 0,
        "started_at": None,
        "completed_at": None,
    },
}

_OWNER_ID = "5654690e-b47d-4363-8e04-e509c560724b"


class TrackRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [TRACK_EXAMPLE, _UPLOADED_EXAMPLE]})

    id: uuid.UUID
    title: str
    artist: str | None
    album: str | None
    genre: str | None
    bpm: float | None
    key: str | None
    loudness_lufs: float | None
    duration_seconds: float | None
    file_format: str | None
    sample_rate: int | None
    bit_depth: int | None
    channels: int | None
    size_bytes: int
    content_sha256: str
    is_reference: bool
    is_user_upload: bool
    source: str | None
    source_url: str | None
    metadata: dict[str, Any] = Field(validation_alias=AliasChoices("metadata_", "metadata"))
    has_waveform: bool = False
    created_at: datetime
    updated_at: datetime
    analysis: AnalysisRead | None = None

    @classmethod
    def build(cls, track: Track, analysis: AnalysisRun | None) -> Self:
        """The track as the API shows it, with its latest analysis (or none yet)."""
        read = cls.model_validate(track)
        read.has_waveform = track.waveform_storage_key is not None
        read.analysis = AnalysisRead.model_validate(analysis) if analysis is not None else None
        return read


class AdminTrackRead(TrackRead):
    model_config = ConfigDict(json_schema_extra={"examples": [TRACK_EXAMPLE | {"user_id": _OWNER_ID}]})

    user_id: uuid.UUID


_COUNT_DESCRIPTION = (
    "Tracks matching the filters across all pages (the cursor does not change it). Counted on every page with "
    "the same indexed filters as the page itself."
)
_CURSOR_DESCRIPTION = "Pass as `cursor` to fetch the next page with the same filters and sort; null on the last page."


ReadT = TypeVar("ReadT", bound=TrackRead)


class _Page(Schema, Generic[ReadT]):
    """One page of tracks, with the cursor of the next page and how many tracks match in all."""

    data: list[ReadT]
    next_cursor: str | None = Field(description=_CURSOR_DESCRIPTION)
    count: int = Field(description=_COUNT_DESCRIPTION)


def _page_example(track: dict[str, Any], *, next_cursor: str, count: int) -> ConfigDict:
    """The config of a page schema whose example is a first page of one track."""
    return ConfigDict(json_schema_extra={"examples": [{"data": [track], "next_cursor": next_cursor, "count": count}]})


class TrackList(_Page[TrackRead]):
    # GET /v1/tracks?bpm_min=100&bpm_max=110&limit=1
    model_config = _page_example(
        TRACK_EXAMPLE,
        next_cursor="A82TvCc1WzEsIjE2NzE0NjUyZTg3YiIsIjIwMjYtMDMtMTRUMTg6MjI6MDUuNDE4"
        "MzAyIiwiNTljOTk0YWUtYjM4YS00Yjc2LWIyMWMtYWQ4NDllYzA3ODM1Il0",
        count=37,
    )


class AdminTrackList(_Page[AdminTrackRead]):
    # GET /v1/admin/tracks?user_id=5654690e-b47d-4363-8e04-e509c560724b&limit=1
    model_config = _page_example(
        TRACK_EXAMPLE | {"user_id": _OWNER_ID},
        next_cursor="EHJhnxm7WzEsIjM4Mzk0YjM5YjdkNCIsIjIwMjYtMDMtMTRUMTg6MjI6MDUuNDE4"
        "MzAyIiwiNTljOTk0YWUtYjM4YS00Yjc2LWIyMWMtYWQ4NDllYzA3ODM1Il0",
        count=412,
    )
