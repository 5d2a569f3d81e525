from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, IdMixin, TimestampMixin


class Reference(IdMixin, TimestampMixin, Base):
    """A track placed in one of the user's reference collections."""

    __tablename__ = "user_references"
    __table_args__ = (
        UniqueConstraint("user_id", "collection_name", "track_id"),
        Index(None, "user_id", "collection_name", "sort_order", "created_at", "id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("reference_tracks.id", ondelete="CASCADE"), index=True)
    collection_name: Mapped[str] = mapped_column(String(200), default="default")
    notes: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    is_favorite: Mapped[bool] = mapped_column(default=False)
    sort_order: Mapped[int] = mapped_column(default=0)
