from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.outbox.models import OutboxEvent


class OutboxService:
    def add(self, session: Session, *, topic: str, payload: dict[str, Any]) -> OutboxEvent:
        """Record an event in the caller's transaction, so it exists if and only if the change does."""
        event = OutboxEvent(topic=topic, payload=payload)
        session.add(event)
        return event


outbox = OutboxService()
