from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, CreatedMixin, IdMixin


class OutboxEvent(IdMixin, CreatedMixin, Base):
    """An event written in the same transaction as the state change it announces."""

    __tablename__ = "outbox"
    __table_args__ = (Index(None, "published_at", "created_at"),)

    topic: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    published_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
