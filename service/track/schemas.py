from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic_core import PydanticCustomError

from service.schemas import AnalysisStatusValue, Schema

TrackSort = Literal["created_at", "title", "bpm", "duration", "loudness"]
SortOrder = Literal["asc", "desc"]

# Set at upload from the file itself; a client may add its own keys next to them but not rewrite these.
RESERVED_METADATA_KEYS = frozenset({"original_filename", "codec"})
MAX_METADATA_BYTES = 16 * 1024
MAX_METADATA_KEY_CHARS = 64


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
