from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, IdMixin, TimestampMixin


class TrackAnnotation(IdMixin, TimestampMixin, Base):
    __tablename__ = "track_annotations"
    __table_args__ = (
        CheckConstraint("annotation_type IN ('note', 'marker', 'issue', 'praise')", name="annotation_type"),
        Index(None, "track_id", "start_time_seconds"),
    )

    track_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reference_tracks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    start_time_seconds: Mapped[float] = mapped_column(Float)
    end_time_seconds: Mapped[float | None] = mapped_column(Float)
    annotation_type: Mapped[str] = mapped_column(String(16), default="note")
    title: Mapped[str | None] = mapped_column(String(500))
    content: Mapped[str | None] = mapped_column(Text)
    color: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)


class TrackRegion(IdMixin, TimestampMixin, Base):
    __tablename__ = "track_regions"
    __table_args__ = (
        CheckConstraint("region_type IN ('loop', 'section', 'compare')", name="region_type"),
        Index(None, "track_id", "sort_order", "created_at", "id"),
    )

    track_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reference_tracks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    start_time_seconds: Mapped[float] = mapped_column(Float)
    end_time_seconds: Mapped[float] = mapped_column(Float)
    region_type: Mapped[str] = mapped_column(String(16), default="loop")
    loop_count: Mapped[int | None]
    is_favorite: Mapped[bool] = mapped_column(default=False)
    color: Mapped[str | None] = mapped_column(String(32))
    sort_order: Mapped[int] = mapped_column(default=0)
