from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, SQLColumnExpression, case, cast
from sqlalchemy.orm import Session

from service.outbox.models import OutboxEvent
from service.outbox.repository import outbox_repository

_MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class Backoff:
    """When a failed event is tried again: ``base_s * 2**(n - 1)`` seconds after its n-th failure, at most ``max_s``.

    The outbox has no "next attempt" column, so the schedule is anchored at the event's ``created_at``: an event
    that failed ``attempts`` times is due once ``delay(0) + ... + delay(attempts - 1)`` seconds have passed since
    it was created. While the relay runs every few seconds, attempts follow that schedule closely, so this is
    "``delay(attempts - 1)`` after the last attempt" in all but name, and it holds across every relay process
    (an in-memory timer would be per process and lost on restart). After the relay itself was down for a long
    time, an event that had already failed is tried on consecutive ticks until its schedule catches up with the
    clock: a few extra attempts, no lost events.
    """

    base_s: float
    max_s: float

    def delay_s(self, failures: int) -> float:
        """Seconds between failure number ``failures`` (1-based) and the next attempt."""
        return float(min(self.base_s * 2 ** (failures - 1), self.max_s))

    def due_after_s(self, attempts: int) -> float:
        """Seconds after creation when an event with ``attempts`` failed attempts is due."""
        return sum(self.delay_s(n) for n in range(1, attempts + 1))

    def due_after_expr(self, attempts: SQLColumnExpression[int]) -> ColumnElement[float]:
        """:meth:`due_after_s` as SQL: a lookup until the cap is reached, linear after it."""
        capped_from = 1
        while self.base_s * 2 ** (capped_from - 1) < self.max_s:
            capped_from += 1
        # Events with fewer than ``capped_from`` failures are looked up; every later failure adds ``max_s``.
        table = {n: self.due_after_s(n) for n in range(capped_from)}
        after_cap = self.due_after_s(capped_from - 1) + (cast(attempts, Float) - (capped_from - 1)) * self.max_s
        return case(table, value=attempts, else_=after_cap)


class OutboxService:
    def add(self, session: Session, *, topic: str, payload: dict[str, Any]) -> OutboxEvent:
        """Record an event in the caller's transaction, so it exists if and only if the change does."""
        event = OutboxEvent(topic=topic, payload=payload)
        session.add(event)
        return event

    def claim_due(self, session: Session, *, now: datetime, limit: int, backoff: Backoff) -> list[OutboxEvent]:
        """Lock up to ``limit`` unpublished events that are due, oldest first, until the transaction ends.

        On PostgreSQL rows another relay holds are skipped (``FOR UPDATE SKIP LOCKED``), so concurrent relays
        share the outbox without ever holding the same event. SQLite has no row locks; there the write
        transaction (``BEGIN IMMEDIATE``) serialises relays.
        """
        due_after = backoff.due_after_expr(OutboxEvent.attempts)
        return outbox_repository.claim_due(session, now=now, limit=limit, due_after_s=due_after)

    def mark_published(self, session: Session, *, event: OutboxEvent, at: datetime) -> None:
        event.attempts += 1
        event.published_at = at
        session.flush()

    def mark_failed(self, session: Session, *, event: OutboxEvent, error: str) -> None:
        event.attempts += 1
        event.last_error = error[:_MAX_ERROR_CHARS]
        session.flush()


outbox = OutboxService()
