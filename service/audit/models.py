from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, CreatedMixin, IdMixin


class AuditLog(IdMixin, CreatedMixin, Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "user_id", "created_at"), Index(None, "action", "created_at"))

    # SET NULL keeps the trail of security-relevant actions after the acting user is deleted.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(64))
    target_id: Mapped[str | None] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
