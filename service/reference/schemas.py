from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints, field_validator

from service.schemas import Schema, Timestamp, refuse_null

MAX_TAGS = 32
MAX_TAG_CHARS = 64
MAX_REORDER_IDS = 10_000
SORT_ORDER_RANGE = (-1_000_000, 1_000_000)


def _distinct_tags(tags: list[str] | None) -> list[str] | None:
    """Drop repeated tags, keeping the first of each."""
    if tags is None:
        return None
    return list(dict.fromkeys(tags))


CollectionName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TAG_CHARS)]
Notes = Annotated[str, StringConstraints(max_length=10_000)]
SortOrder = Annotated[int, Field(ge=SORT_ORDER_RANGE[0], le=SORT_ORDER_RANGE[1])]
Tags = Annotated[list[Tag], Field(max_length=MAX_TAGS, description=f"Up to {MAX_TAGS} tags of up to 64 characters")]


class ReferenceCreate(Schema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "track_id": "59c994ae-b38a-4b76-b21c-ad849ec07835",
                    "collection_name": "Synth-pop",
                    "notes": "Wide pads, mono low end; the drop at 0:54 is the loudness target.",
                    "tags": ["synthwave", "wide stereo"],
                    "is_favorite": True,
                }
            ]
        },
    )

    track_id: uuid.UUID
    collection_name: CollectionName = "default"
    notes: Notes | None = None
    tags: Tags = Field(default_factory=list)
    is_favorite: bool = False
    sort_order: SortOrder | None = Field(None, description="Defaults to after the collection's last reference")

    distinct = field_validator("tags")(_distinct_tags)


class ReferenceUpdate(Schema):
    """Fields left out stay as they are; ``notes`` may be set to null to clear them."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"is_favorite": False, "tags": ["techno"]}]}
    )

    collection_name: CollectionName | None = Field(
        None, description="Moves the reference, to the end of that collection unless sort_order is given"
    )
    notes: Notes | None = None
    tags: Tags | None = None
    is_favorite: bool | None = None
    sort_order: SortOrder | None = None

    not_null = field_validator("collection_name", "tags", "is_favorite", "sort_order")(refuse_null)
    distinct = field_validator("tags")(_distinct_tags)


_TRACK_BRIEF_EXAMPLE: dict[str, Any] = {
    "id": "59c994ae-b38a-4b76-b21c-ad849ec07835",
    "title": "Midnight City",
    "artist": "M83",
    "bpm": 105.0,
    "key": "A minor",
    "duration_seconds": 243.96,
    "loudness_lufs": -8.9,
}


class ReferenceTrackBrief(Schema):
    """The referenced track's headline values, as the library shows them."""

    model_config = ConfigDict(json_schema_extra={"examples": [_TRACK_BRIEF_EXAMPLE]})

    id: uuid.UUID
    title: str
    artist: str | None
    bpm: float | None
    key: str | None
    duration_seconds: float | None
    loudness_lufs: float | None


_REFERENCE_EXAMPLE: dict[str, Any] = {
    "id": "0b9f7a52-4c57-4f0e-9d0c-1f5c7e2b8a10",
    "track_id": "59c994ae-b38a-4b76-b21c-ad849ec07835",
    "collection_name": "Synth-pop",
    "notes": "Wide pads, mono low end; the drop at 0:54 is the loudness target.",
    "tags": ["synthwave", "wide stereo"],
    "is_favorite": True,
    "sort_order": 0,
    "created_at": "2026-03-14T18:25:40.127553+00:00",
    "updated_at": "2026-03-14T18:25:40.127553+00:00",
    "track": _TRACK_BRIEF_EXAMPLE,
}


class ReferenceRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_REFERENCE_EXAMPLE]})

    id: uuid.UUID
    track_id: uuid.UUID
    collection_name: str
    notes: str | None
    tags: list[str]
    is_favorite: bool
    sort_order: int
    created_at: Timestamp
    updated_at: Timestamp
    track: ReferenceTrackBrief


class ReferenceList(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [_REFERENCE_EXAMPLE], "count": 1}]})

    data: list[ReferenceRead]
    count: int


class CollectionRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Synth-pop", "count": 12, "favorite_count": 3}]})

    name: str
    count: int
    favorite_count: int


class CollectionList(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"data": [{"name": "Club mixes", "count": 4, "favorite_count": 1}], "count": 1}]
        }
    )

    data: list[CollectionRead]
    count: int


class ReorderRequest(Schema):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "collection_name": "Club mixes",
                    "ids": ["0b9f7a52-4c57-4f0e-9d0c-1f5c7e2b8a10", "7d1e2c9a-3b4f-4e5d-8a6b-9c0d1e2f3a4b"],
                }
            ]
        },
    )

    collection_name: CollectionName
    ids: list[uuid.UUID] = Field(
        max_length=MAX_REORDER_IDS, description="Every reference of the collection, exactly once, in the new order"
    )
