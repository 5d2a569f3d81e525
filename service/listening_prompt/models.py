from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, IdMixin, TimestampMixin


class ListeningPromptTemplate(IdMixin, TimestampMixin, Base):
    __tablename__ = "listening_prompt_templates"
    __table_args__ = (Index(None, "category", "sort_order"),)

    key: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(64))
    prompt_text: Mapped[str] = mapped_column(Text)
    # Where in the track the prompt applies (e.g. "loudest_section", "first_drop"); bound by the prompt engine.
    placement_rule: Mapped[str | None] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(default=True)
    sort_order: Mapped[int] = mapped_column(default=0)


class ListeningPromptPreset(IdMixin, TimestampMixin, Base):
    __tablename__ = "listening_prompt_presets"
    __table_args__ = (Index(None, "user_id", "sort_order", "created_at", "id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    configuration: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_default: Mapped[bool] = mapped_column(default=False)
    sort_order: Mapped[int] = mapped_column(default=0)
