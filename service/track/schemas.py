from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from service.analysis_run.schemas import AnalysisRead
from service.schemas import Schema


class TrackRead(Schema):
    id: uuid.UUID
    title: str
    artist: str | None
    album: str | None
    genre: str | None
    bpm: float | None
    key: str | None
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


class TrackList(Schema):
    data: list[TrackRead]
    count: int
