from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, UniqueConstraint, false, true
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, IdMixin, TimestampMixin


class Track(IdMixin, TimestampMixin, Base):
    __tablename__ = "reference_tracks"
    __table_args__ = (
        UniqueConstraint("user_id", "content_sha256"),
        Index(None, "user_id", "created_at"),
        Index(None, "user_id", "title"),
        Index(None, "user_id", "bpm"),
        Index(None, "user_id", "duration_seconds"),
        Index(None, "user_id", "loudness_lufs"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    artist: Mapped[str | None] = mapped_column(String(500))
    album: Mapped[str | None] = mapped_column(String(500))
    genre: Mapped[str | None] = mapped_column(String(200))
    bpm: Mapped[float | None]
    key: Mapped[str | None] = mapped_column(String(32))
    # Integrated loudness (LUFS) of the latest successful analysis, for sorting and filtering the library.
    loudness_lufs: Mapped[float | None]
    duration_seconds: Mapped[float | None]
    storage_key: Mapped[str] = mapped_column(String(1024))
    waveform_storage_key: Mapped[str | None] = mapped_column(String(1024))
    thumbnail_storage_key: Mapped[str | None] = mapped_column(String(1024))
    file_format: Mapped[str | None] = mapped_column(String(16))
    sample_rate: Mapped[int | None]
    bit_depth: Mapped[int | None]
    channels: Mapped[int | None]
    is_reference: Mapped[bool] = mapped_column(default=True, server_default=true())
    is_user_upload: Mapped[bool] = mapped_column(default=False, server_default=false())
    source: Mapped[str | None] = mapped_column(String(64))
    source_url: Mapped[str | None] = mapped_column(String(2048))
    # "metadata" is reserved on declarative classes, so the attribute is named differently.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    content_sha256: Mapped[str] = mapped_column(String(64))
