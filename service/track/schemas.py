from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from service.analysis_run.schemas import AnalysisRead
from service.schemas import Schema

if TYPE_CHECKING:
    from service.analysis_run.models import AnalysisRun
    from service.track.models import ReferenceTrack

TrackSort = Literal["created_at", "title", "bpm", "duration", "loudness"]
SortOrder = Literal["asc", "desc"]
AnalysisStatus = Literal["queued", "running", "succeeded", "failed"]

# Set at upload from the file itself; a client may add its own keys next to them but not rewrite these.
RESERVED_METADATA_KEYS = frozenset({"original_filename", "codec"})
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_KEY_CHARS = 64


class TrackRead(Schema):
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
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    has_waveform: bool = False
    created_at: datetime
    updated_at: datetime
    analysis: AnalysisRead | None = None

    @classmethod
    def build(cls, track: ReferenceTrack, analysis: AnalysisRun | None) -> Self:
        """The track as the API shows it, with its latest analysis (or none yet)."""
        read = cls.model_validate(track)
        read.has_waveform = track.waveform_r2_key is not None
        read.analysis = AnalysisRead.model_validate(analysis) if analysis is not None else None
        return read


class AdminTrackRead(TrackRead):
    user_id: uuid.UUID


_COUNT_DESCRIPTION = (
    "Tracks matching the filters across all pages (the cursor does not change it). Counted on every page with "
    "the same indexed filters as the page itself."
)
_CURSOR_DESCRIPTION = "Pass as `cursor` to fetch the next page with the same filters and sort; null on the last page."


class TrackList(Schema):
    data: list[TrackRead]
    next_cursor: str | None = Field(description=_CURSOR_DESCRIPTION)
    count: int = Field(description=_COUNT_DESCRIPTION)


class AdminTrackList(Schema):
    data: list[AdminTrackRead]
    next_cursor: str | None = Field(description=_CURSOR_DESCRIPTION)
    count: int = Field(description=_COUNT_DESCRIPTION)


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
    status: AnalysisStatus | None = Field(default=None, description="Status of the latest analysis")
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

    model_config = ConfigDict(extra="forbid")

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
