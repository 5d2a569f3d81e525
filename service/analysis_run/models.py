from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, CreatedMixin, IdMixin


class AnalysisStatus(StrEnum):
    """Where an analysis stands; stored as its value (the ``status`` check constraint lists them)."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"

    @classmethod
    def active(cls) -> tuple[AnalysisStatus, ...]:
        """The statuses of an analysis that has not finished yet."""
        return (cls.queued, cls.running)


class FailureKind(StrEnum):
    """Why an analysis failed: an outage that outlasted the retry budget (``transient``: the reaper sends it
    again), or the input itself (``permanent``)."""

    transient = "transient"
    permanent = "permanent"


class AnalysisRun(IdMixin, CreatedMixin, Base):
    """One analysis of a track (table ``track_analyses``)."""

    __tablename__ = "track_analyses"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        CheckConstraint("failure_kind IN ('transient', 'permanent')", name="failure_kind"),
        Index(None, "track_id", "created_at"),
        Index(None, "status"),
    )

    track_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reference_tracks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    analysis_type: Mapped[str] = mapped_column(String(32), default="full")
    analyzer_version: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=AnalysisStatus.queued)
    # The Celery queue it was sent on ("analysis" or "analysis.bulk"); a re-send keeps the priority.
    queue: Mapped[str] = mapped_column(String(32), default="analysis", server_default="analysis")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error_message: Mapped[str | None] = mapped_column(Text)
    # A FailureKind, on a failed analysis only.
    failure_kind: Mapped[str | None] = mapped_column(String(16))
    # Every attempt that started, retries through an outage included.
    attempts: Mapped[int] = mapped_column(default=0)
    # Attempts that ended with their worker gone (killed, out of memory): bounded by task_max_retries.
    lost_attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class FrameManifest(IdMixin, CreatedMixin, Base):
    """One frame-level feature stream of an analysis, stored as fixed-size chunks of frames."""

    __tablename__ = "analysis_frame_manifests"
    __table_args__ = (UniqueConstraint("analysis_id", "feature"),)

    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("track_analyses.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    feature: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(String(500))
    frame_rate: Mapped[float] = mapped_column(Float)
    hop_seconds: Mapped[float] = mapped_column(Float)
    n_frames: Mapped[int]
    dimensions: Mapped[int]
    dtype: Mapped[str] = mapped_column(String(16))
    encoding: Mapped[str] = mapped_column(String(32))
    scale: Mapped[float | None] = mapped_column(Float)
    offset: Mapped[float | None] = mapped_column(Float)
    chunk_frames: Mapped[int]
    n_chunks: Mapped[int]
    # The analysis' own order of its features; every manifest of an analysis is written in one statement.
    sort_order: Mapped[int] = mapped_column(default=0, server_default="0")


class FrameData(IdMixin, Base):
    __tablename__ = "analysis_frame_data"
    __table_args__ = (UniqueConstraint("manifest_id", "chunk_index"),)

    manifest_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("analysis_frame_manifests.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    chunk_index: Mapped[int]
    start_frame: Mapped[int]
    n_frames: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary)


class AnalysisEvent(IdMixin, Base):
    __tablename__ = "analysis_events"
    __table_args__ = (Index(None, "analysis_id", "event_type", "time_seconds"),)

    # Indexed by the (analysis_id, event_type, time_seconds) index, which every read of events uses.
    analysis_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("track_analyses.id", ondelete="CASCADE"))
    # Copies of the analysis' own, for scoping reads by owner; without foreign keys, which cost a lock of the
    # parent rows per event written (migration 0007). Events go with their analysis.
    track_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(32))
    time_seconds: Mapped[float] = mapped_column(Float)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    confidence: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str | None] = mapped_column(String(200))
    # None is SQL NULL, not JSON null, also in the Core multi-row inserts that write events.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
