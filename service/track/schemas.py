from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, Self, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from service.analysis_run.schemas import ANALYSIS_EXAMPLE, AnalysisRead, AnalysisStatusValue
from service.schemas import Schema

if TYPE_CHECKING:
    from service.analysis_run.models import AnalysisRun
    from service.track.models import ReferenceTrack

TrackSort = Literal["created_at", "title", "bpm", "duration", "loudness"]
SortOrder = Literal["asc", "desc"]

# Set at upload from the file itself; a client may add its own keys next to them but not rewrite these.
RESERVED_METADATA_KEYS = frozenset({"original_filename", "codec"})
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_KEY_CHARS = 64

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
    def build(cls, track: ReferenceTrack, analysis: AnalysisRun | None) -> Self:
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


class TrackListQuery(BaseModel):
    """Library filters, sort and cursor. Unknown parameters (``offset`` from older clients) are refused."""

    model_config = ConfigDict(extra="forbid")

    bpm_min: float | None = Field(default=None, ge=0, le=1000, description="Lowest BPM, inclusive")
    bpm_max: float | None = Field(default=None, ge=0, le=1000, description="Highest BPM, inclusive")
    key: str | None = Field(
        default=None,
        max_length=32,
        description='Exact key, e.g. "A minor", "C# major", "Bb major" (flats are read as sharps) or a Camelot code '
        'such as "8A"',
    )
    compatible: bool = Field(
        default=False,
        description="With `key`: also the harmonically compatible keys (Camelot number ±1 and the relative key)",
    )
    genre: str | None = Field(default=None, min_length=1, max_length=200, description="Exact genre, any case")
    artist: str | None = Field(default=None, min_length=1, max_length=500, description="Exact artist, any case")
    status: AnalysisStatusValue | None = Field(default=None, description="Status of the latest analysis")
    q: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Words that must each appear in the title, artist or album, any case",
    )
    sort: TrackSort = "created_at"
    order: SortOrder | None = Field(
        default=None, description="Defaults to desc for created_at (newest first) and asc for the others"
    )
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=1024, description="`next_cursor` of the previous page")


class AdminTrackListQuery(TrackListQuery):
    user_id: uuid.UUID | None = Field(default=None, description="Only this user's tracks")


Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
Genre = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class TrackUpdate(BaseModel):
    """Fields left out are unchanged. ``artist``, ``album`` and ``genre`` are cleared with null or "".

    ``metadata`` is merged into the stored metadata: a key set to null is removed, the others are added or
    replaced (JSON merge patch, one level deep).
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Midnight City (Radio Edit)",
                    "genre": "Synthwave",
                    "metadata": {"label": "Naïve", "isrc": "FR6V81141041", "mix_notes": None},
                },
                {"album": None, "is_reference": False},
            ]
        },
    )

    title: Title | None = None
    artist: ShortText | None = None
    album: ShortText | None = None
    genre: Genre | None = None
    is_reference: bool | None = None
    metadata: dict[str, Any] | None = None

    @field_validator("title", "is_reference", "metadata", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise PydanticCustomError("not_null", "may not be null")
        return value

    @field_validator("metadata")
    @classmethod
    def _check_metadata(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        for name in value:
            if name in RESERVED_METADATA_KEYS:
                raise PydanticCustomError(
                    "reserved_key", "'{name}' is set from the file and cannot be changed", {"name": name}
                )
            if not name or len(name) > MAX_METADATA_KEY_CHARS:
                raise PydanticCustomError(
                    "metadata_key", "keys must be 1 to {limit} characters", {"limit": MAX_METADATA_KEY_CHARS}
                )
        return value


class AudioUrlRead(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "http://127.0.0.1:8000/v1/tracks/0c7d5a8e-3b59-4d0e-9a4f-7f2b1c6e9d10/audio/signed"
                    "?user=5654690e-b47d-4363-8e04-e509c560724b&expires=1767225600"
                    "&signature=m1xV0n2o3h6yq9bq0dM2vHfS5cX8n4sQe1wZk7rT3aU",
                    "expires_at": "2026-01-01T00:00:00+00:00",
                }
            ]
        }
    )

    url: str = Field(
        description="Plays the original without credentials (an `<audio src>`), with HTTP Range, until `expires_at`"
    )
    expires_at: datetime
