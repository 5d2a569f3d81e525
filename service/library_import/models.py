from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, CreatedMixin, IdMixin, TimestampMixin


class ImportStatus(StrEnum):
    """Where an import stands; stored as its value (the ``status`` check constraint lists them)."""

    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class FileOutcome(StrEnum):
    """What an import did with one source file; each has its counter on the import (``files_<outcome>``)."""

    imported = "imported"
    duplicate = "duplicate"
    not_audio = "not_audio"
    failed = "failed"


class LibraryImport(IdMixin, TimestampMixin, Base):
    """One batch import of a folder or bucket prefix into a user's library (table ``imports``).

    The ``files_*`` counters only move in the transaction that commits the chunk they describe, so they stay
    exact across an interrupted and resumed import. ``cursor`` is the last source file of the last committed
    chunk (files are processed in sorted order); ``pending`` holds analysis ids queued by a committed chunk
    whose task messages are not known to have reached the broker, and ``heartbeat_at`` tells a live runner
    from one that died.
    """

    __tablename__ = "imports"
    __table_args__ = (
        CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name="status"),
        CheckConstraint("origin IN ('api', 'cli')", name="origin"),
        Index(None, "user_id", "created_at"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(2048))
    origin: Mapped[str] = mapped_column(String(8), default="api")
    status: Mapped[str] = mapped_column(String(16), default=ImportStatus.queued)
    files_found: Mapped[int | None]
    files_imported: Mapped[int] = mapped_column(default=0)
    files_duplicate: Mapped[int] = mapped_column(default=0)
    files_not_audio: Mapped[int] = mapped_column(default=0)
    files_failed: Mapped[int] = mapped_column(default=0)
    errors: Mapped[list[Any]] = mapped_column(JSON, default=list)
    error_message: Mapped[str | None] = mapped_column(Text)
    cursor: Mapped[str | None] = mapped_column(Text)
    pending: Mapped[list[Any]] = mapped_column(JSON, default=list)
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    @property
    def files_processed(self) -> int:
        return self.files_imported + self.files_duplicate + self.files_not_audio + self.files_failed


class ImportTrack(IdMixin, CreatedMixin, Base):
    """A track an import added (``created``) or found already in the library, for the import's progress."""

    __tablename__ = "import_tracks"
    __table_args__ = (Index(None, "import_id", "track_id", unique=True),)

    import_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("imports.id", ondelete="CASCADE"))
    track_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reference_tracks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created: Mapped[bool] = mapped_column(default=True)
