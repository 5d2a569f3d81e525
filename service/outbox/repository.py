from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, DateTime, Float, SQLColumnExpression, extract, func, literal, select, type_coerce
from sqlalchemy.orm import Session

from service.outbox.models import OutboxEvent


def _age_s(session: Session, created_at: SQLColumnExpression[datetime], now: datetime) -> ColumnElement[float]:
    """Seconds from ``created_at`` to ``now``, computed by the database."""
    at = literal(now, DateTime(timezone=True))
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(at) - func.julianday(created_at)) * 86400.0
    return type_coerce(extract("epoch", at - created_at), Float)


class OutboxRepository:
    def claim_due(
        self, session: Session, *, now: datetime, limit: int, due_after_s: ColumnElement[float]
    ) -> list[OutboxEvent]:
        """Lock up to ``limit`` unpublished events at least ``due_after_s`` old, oldest first (``SKIP LOCKED``)."""
        stmt = (
            select(OutboxEvent)
            .where(OutboxEvent.published_at.is_(None), _age_s(session, OutboxEvent.created_at, now) >= due_after_s)
            .order_by(OutboxEvent.created_at, OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(session.scalars(stmt))


outbox_repository = OutboxRepository()
