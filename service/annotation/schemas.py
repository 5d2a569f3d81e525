from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, ConfigDict, Field, StringConstraints, field_validator

from service.schemas import Schema, Timestamp, refuse_null

AnnotationType = Literal["note", "marker", "issue", "praise"]
RegionType = Literal["loop", "section", "compare"]
SnapTo = Literal["beat", "bar"]
FileFormat = Literal["audacity", "jams"]

ANNOTATION_TYPES: tuple[AnnotationType, ...] = ("note", "marker", "issue", "praise")
REGION_TYPES: tuple[RegionType, ...] = ("loop", "section", "compare")

_HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here rather than fail at the database.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _hex_color(value: str) -> str:
    if not _HEX_COLOR.fullmatch(value):
        raise ValueError("must be a hex colour, #RGB or #RRGGBB")
    return value


Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Color = Annotated[str, AfterValidator(_hex_color)]
Title = Annotated[str, Field(max_length=500), AfterValidator(_storable)]
Content = Annotated[str, Field(max_length=10_000), AfterValidator(_storable)]
Tag = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_storable)]
Tags = Annotated[list[Tag], Field(max_length=32)]
RegionName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), AfterValidator(_storable)
]
LoopCount = Annotated[int, Field(ge=1, le=999)]

_NULL_UPDATE = "may be left out but not set to null"


class _Input(Schema):
    model_config = ConfigDict(extra="forbid")


class AnnotationCreate(_Input):
    """A point annotation (no end) or a span. Times are seconds from the start of the track."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "start_time_seconds": 32.0,
                    "end_time_seconds": 48.0,
                    "annotation_type": "issue",
                    "title": "Kick masks the bass",
                    "content": "Sidechain or cut 60 Hz on the bass during the drop.",
                    "color": "#e5484d",
                    "tags": ["mix", "low-end"],
                },
                {"start_time_seconds": 16.0, "annotation_type": "marker", "title": "Vocal in"},
            ]
        }
    )

    start_time_seconds: Seconds
    end_time_seconds: Seconds | None = None
    annotation_type: AnnotationType = "note"
    title: Title | None = None
    content: Content | None = None
    color: Color | None = None
    tags: Tags = Field(default_factory=list)


class AnnotationUpdate(_Input):
    """Only the fields sent change; ``end_time_seconds: null`` turns a span into a point."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"end_time_seconds": 50.0, "title": "Kick masks the bass (worse here)"}]}
    )

    start_time_seconds: Seconds | None = None
    end_time_seconds: Seconds | None = None
    annotation_type: AnnotationType | None = None
    title: Title | None = None
    content: Content | None = None
    color: Color | None = None
    tags: Tags | None = None

    @field_validator("start_time_seconds", "annotation_type", "tags")
    @classmethod
    def _required(cls, value: Any) -> Any:
        return refuse_null(value, message=_NULL_UPDATE)


_ANNOTATION_EXAMPLE: dict[str, Any] = {
    "id": "0b5e8a9e-3f61-4c0e-9d8e-0f4b8c1f2a77",
    "track_id": "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
    "start_time_seconds": 32.0,
    "end_time_seconds": 48.0,
    "annotation_type": "issue",
    "title": "Kick masks the bass",
    "content": "Sidechain or cut 60 Hz on the bass during the drop.",
    "color": "#e5484d",
    "tags": ["mix", "low-end"],
    "created_at": "2025-01-01T12:00:00Z",
    "updated_at": "2025-01-01T12:00:00Z",
}


class AnnotationRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_ANNOTATION_EXAMPLE]})

    id: uuid.UUID
    track_id: uuid.UUID
    start_time_seconds: float
    end_time_seconds: float | None
    annotation_type: AnnotationType
    title: str | None
    content: str | None
    color: str | None
    tags: list[str]
    created_at: Timestamp
    updated_at: Timestamp


class AnnotationList(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [_ANNOTATION_EXAMPLE], "count": 1}]})

    data: list[AnnotationRead]
    count: int


class RegionCreate(_Input):
    """A named span of the track: a loop to practise, a section, or a range to compare."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Drop",
                    "start_time_seconds": 64.0,
                    "end_time_seconds": 96.0,
                    "region_type": "loop",
                    "loop_count": 4,
                    "is_favorite": True,
                    "color": "#3e63dd",
                }
            ]
        }
    )

    name: RegionName
    start_time_seconds: Seconds
    end_time_seconds: Seconds
    region_type: RegionType = "loop"
    loop_count: LoopCount | None = None
    is_favorite: bool = False
    color: Color | None = None


class RegionUpdate(_Input):
    """Only the fields sent change. The position in the list changes through ``regions/reorder``."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Second drop", "loop_count": 8}]})

    name: RegionName | None = None
    start_time_seconds: Seconds | None = None
    end_time_seconds: Seconds | None = None
    region_type: RegionType | None = None
    loop_count: LoopCount | None = None
    is_favorite: bool | None = None
    color: Color | None = None

    @field_validator("name", "start_time_seconds", "end_time_seconds", "region_type", "is_favorite")
    @classmethod
    def _required(cls, value: Any) -> Any:
        return refuse_null(value, message=_NULL_UPDATE)


_REGION_EXAMPLE: dict[str, Any] = {
    "id": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "track_id": "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
    "name": "A · intro",
    "start_time_seconds": 0.0,
    "end_time_seconds": 16.0,
    "region_type": "section",
    "loop_count": None,
    "is_favorite": False,
    "color": None,
    "sort_order": 0,
    "created_at": "2025-01-01T12:00:00Z",
    "updated_at": "2025-01-01T12:00:00Z",
}


class RegionRead(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [_REGION_EXAMPLE]})

    id: uuid.UUID
    track_id: uuid.UUID
    name: str
    start_time_seconds: float
    end_time_seconds: float
    region_type: RegionType
    loop_count: int | None
    is_favorite: bool
    color: str | None
    sort_order: int
    created_at: Timestamp
    updated_at: Timestamp


class RegionList(Schema):
    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [_REGION_EXAMPLE], "count": 1}]})

    data: list[RegionRead]
    count: int


class RegionReorder(_Input):
    """Every region id of the track, each once, in the new order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"ids": ["9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e"]}]
        }
    )

    # The same key as the references' reorder; "region_ids", its former name, is still accepted.
    ids: list[uuid.UUID] = Field(max_length=10_000, validation_alias=AliasChoices("ids", "region_ids"))
