from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, true
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, CreatedMixin, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('user', 'admin')", name="role"),)

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="user", server_default="user")
    is_active: Mapped[bool] = mapped_column(default=True, server_default=true())
    last_activity_at: Mapped[datetime | None]


class ApiSession(IdMixin, CreatedMixin, Base):
    """An API bearer token (``kind="token"``) or a browser's cookie session (``kind="browser"``).

    Only the SHA-256 of the token or cookie is stored. Each kind is accepted only where it was issued for: a
    cookie value does not work as a bearer token, nor a token as a cookie.
    """

    __tablename__ = "sessions"
    __table_args__ = (CheckConstraint("kind IN ('token', 'browser')", name="kind"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(500))
    ip_address: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="token", server_default="token")


class LoginTicket(IdMixin, CreatedMixin, Base):
    """A one-time sign-in link's secret (``reftrack serve`` prints one). Only its SHA-256 is stored; using it
    deletes the row, and issuing a new one for a user deletes the user's earlier ones."""

    __tablename__ = "login_tickets"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    ticket_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
