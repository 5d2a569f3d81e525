from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, Field

from service.schemas import Schema


class AnalysisRead(Schema):
    id: uuid.UUID
    track_id: uuid.UUID
    analysis_type: str
    analyzer_version: str | None
    status: Literal["queued", "running", "succeeded", "failed"]
    parameters: dict[str, Any]
    results: dict[str, Any] | None
    error_message: str | None
    attempts: int
    started_at: datetime | None
    completed_at: datetime | None
    created_at: datetime


EventType = Literal["beat", "downbeat", "onset", "section"]
EVENT_TYPES: tuple[EventType, ...] = ("beat", "downbeat", "onset", "section")
Reduction = Literal["minmax", "mean"]


class AnalysisList(Schema):
    data: list[AnalysisRead]
    count: int


class FeatureRead(Schema):
    """One frame-level feature series: frame ``i`` is centred on ``i / frame_rate`` seconds."""

    name: str = Field(validation_alias=AliasChoices("feature", "name"))
    unit: str | None
    description: str | None
    frame_rate: float
    hop_seconds: float
    n_frames: int
    dims: int = Field(validation_alias=AliasChoices("dimensions", "dims"))
    dtype: Literal["float16", "float32"]


class FeatureList(Schema):
    analysis_id: uuid.UUID
    analyzer_version: str | None
    waveform_levels: list[int] = Field(
        description="Stored waveform zoom levels in samples per pixel; the waveform endpoint combines them exactly."
    )
    data: list[FeatureRead]
    count: int


class FeatureWindow(Schema):
    """Frames of one feature in a time window, decimated to at most ``max_points`` points.

    Point ``j`` summarises ``decimation`` consecutive frames starting at ``start + j / frame_rate`` seconds.
    ``values`` is flat and row-major in ``shape``, like audiowaveform's ``data`` and the octet-stream body:
    ``[points, dims, 2]`` (min, max of each dimension) for ``minmax``, ``[points, dims]`` for ``mean``, so value
    ``k`` of dimension ``d`` of point ``j`` is ``values[(j * dims + d) * 2 + k]`` for ``minmax``. Numbers carry
    the precision of the stored series (5 significant digits for float16, 9 for float32); gaps are ``null``.
    """

    analysis_id: uuid.UUID
    feature: str
    unit: str | None
    reduce: Reduction
    start: float = Field(description="Time in seconds of the first returned point.")
    frame_rate: float = Field(description="Points per second after decimation.")
    decimation: int = Field(description="Frames summarised by each point.")
    points: int
    dims: int
    shape: list[int] = Field(description="[points, dims, 2] for minmax, [points, dims] for mean.")
    values: list[float | None]


class EventRead(Schema):
    id: uuid.UUID
    type: EventType = Field(validation_alias=AliasChoices("event_type", "type"))
    time_seconds: float
    duration_seconds: float | None
    value: float | None
    confidence: float | None
    label: str | None
    payload: dict[str, Any] | None


class EventList(Schema):
    analysis_id: uuid.UUID
    data: list[EventRead]
    count: int


class WaveformRead(Schema):
    """BBC audiowaveform's JSON format (version 2): ``data`` holds min, max for each channel of each pixel."""

    version: Literal[2]
    channels: int
    sample_rate: int
    samples_per_pixel: int
    bits: Literal[8, 16]
    length: int
    data: list[int]
