"""The outbox relay: publishes committed events to a webhook and/or the broker, at least once.

A periodic task (``outbox.relay``) drains the outbox in ``created_at`` order. Each batch is one transaction:
claim due events (row locks, ``SKIP LOCKED`` on PostgreSQL), publish them one by one, record the outcome,
commit. An event is marked published only after every destination accepted it, and it stays locked while it
is being published, so two relays never publish the same event. A crash between publishing and committing
publishes it again on the next tick: receivers deduplicate on the event id (the ``Idempotency-Key`` header
of the webhook, the ``message_id`` on the broker). With both destinations configured, an event one of them
refused is sent to both again.

The first failure ends the batch: the failed event backs off (see :class:`Backoff`) and the rest wait for the
next tick, so an unreachable destination costs one timeout per tick rather than one per event.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from kombu.connection import Connection
from kombu.entity import Exchange
from sqlalchemy.orm import Session

from service.config import Settings, settings
from service.db import SessionScope, utcnow
from service.outbox.models import OutboxEvent
from service.outbox.service import Backoff
from service.outbox.service import outbox as outbox_service
from service.queue import EVENTS_EXCHANGE, events_connection

log = logging.getLogger(__name__)


BROKER_PUBLISH_TIMEOUT_S = 10.0
# Events per tick, in batches: bounds one task's run time; whatever is left is picked up by the next tick.
MAX_BATCHES_PER_TICK = 10


class PublishError(Exception):
    """A destination did not accept an event."""


class Publisher(Protocol):
    def publish(self, event: OutboxEvent) -> None:
        """Deliver ``event`` or raise: returning means the destination has accepted it."""


def event_body(event: OutboxEvent) -> dict[str, Any]:
    """What every destination receives: ``{id, topic, payload, created_at}``."""
    created_at = event.created_at
    if created_at.tzinfo is None:  # SQLite returns naive datetimes; every timestamp here is UTC
        created_at = created_at.replace(tzinfo=UTC)
    return {"id": str(event.id), "topic": event.topic, "payload": event.payload, "created_at": created_at.isoformat()}


class WebhookPublisher:
    """POSTs each event as JSON; any answer but a 2xx (redirects included) is a failure."""

    def __init__(self, url: str, *, client: httpx.Client) -> None:
        self.url = url
        self.client = client

    def publish(self, event: OutboxEvent) -> None:
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": str(event.id),
            "X-Reftrack-Topic": event.topic,
        }
        try:
            response = self.client.post(self.url, content=json.dumps(event_body(event)), headers=headers)
        except httpx.HTTPError as exc:
            raise PublishError(f"webhook request failed: {type(exc).__name__}: {exc}") from exc
        if not response.is_success:
            raise PublishError(f"webhook answered {response.status_code}: {response.text[:200]}")


class BrokerPublisher:
    """Publishes each event to a topic exchange with its topic as routing key, as a persistent message.

    On AMQP the connection has publisher confirms on, so ``publish`` returns only once the broker has taken
    the message and raises when it refuses it; on Redis a publish is a single write and has no confirm.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        exchange: Exchange = EVENTS_EXCHANGE,
        timeout_s: float = BROKER_PUBLISH_TIMEOUT_S,
    ) -> None:
        self.connection = connection
        self.exchange = exchange
        self.timeout_s = timeout_s
        self._producer: Any = None

    def publish(self, event: OutboxEvent) -> None:
        if self._producer is None:
            self._producer = self.connection.Producer(serializer="json")  # type: ignore[no-untyped-call]
        self._producer.publish(
            event_body(event),
            exchange=self.exchange,
            routing_key=event.topic,
            declare=[self.exchange],
            delivery_mode="persistent",
            message_id=str(event.id),
            headers={"idempotency-key": str(event.id)},
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.5, "interval_step": 1.0, "interval_max": 2.0},
            timeout=self.timeout_s,
        )


@dataclass(slots=True)
class RelayResult:
    published: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Batch:
    claimed: int
    limit: int
    published: list[uuid.UUID]
    failed: uuid.UUID | None


class OutboxRelay:
    def __init__(self, publishers: Sequence[Publisher], *, backoff: Backoff, batch_size: int) -> None:
        self.publishers = list(publishers)
        self.backoff = backoff
        self.batch_size = batch_size

    def drain(self, *, session_scope: SessionScope, now: datetime | None = None) -> RelayResult:
        """Publish due events until none is left, a destination fails, or the tick's batches are used up.

        ``now`` fixes the clock the backoff is judged by (tests); by default each batch reads the time.
        """
        result = RelayResult()
        if not self.publishers:
            # Nowhere to publish: marking events published would lose them.
            return result
        budget = self.batch_size * MAX_BATCHES_PER_TICK
        while budget > 0:
            with session_scope() as session:
                batch = self._relay_batch(session, now=now or utcnow())
            budget -= batch.claimed
            result.published.extend(batch.published)
            if batch.failed is not None:
                result.failed.append(batch.failed)
                break
            if batch.claimed < batch.limit:
                break
        if result.published:
            log.info("outbox.relay.published", extra={"count": len(result.published)})
        return result

    def _relay_batch(self, session: Session, *, now: datetime) -> _Batch:
        # SQLite locks the whole database for the claiming transaction, so there it claims one event at a time:
        # API requests then wait for at most one publish, not a batch of them.
        limit = 1 if session.get_bind().dialect.name == "sqlite" else self.batch_size
        events = outbox_service.claim_due(session, now=now, limit=limit, backoff=self.backoff)
        published: list[uuid.UUID] = []
        for event in events:
            try:
                for publisher in self.publishers:
                    publisher.publish(event)
            # Whatever went wrong, the outcome must be recorded: letting it escape would roll back the batch,
            # and events already delivered in it would be published again.
            except Exception as exc:
                error = str(exc) if isinstance(exc, PublishError) else f"{type(exc).__name__}: {exc}"
                outbox_service.mark_failed(session, event=event, error=error)
                log.warning(
                    "outbox.publish.failed",
                    extra={"event_id": str(event.id), "topic": event.topic, "attempts": event.attempts, "error": error},
                )
                return _Batch(claimed=len(events), limit=limit, published=published, failed=event.id)
            outbox_service.mark_published(session, event=event, at=utcnow())
            published.append(event.id)
        return _Batch(claimed=len(events), limit=limit, published=published, failed=None)


def backoff_from_settings(cfg: Settings) -> Backoff:
    return Backoff(base_s=cfg.outbox_backoff_base_s, max_s=cfg.outbox_backoff_max_s)


@contextmanager
def open_publishers(cfg: Settings) -> Iterator[list[Publisher]]:
    """The destinations ``cfg`` configures, with their HTTP client and broker connection closed afterwards."""
    with ExitStack() as stack:
        publishers: list[Publisher] = []
        if cfg.webhook_url is not None:
            client = stack.enter_context(httpx.Client(timeout=cfg.webhook_timeout_s, follow_redirects=False))
            publishers.append(WebhookPublisher(cfg.webhook_url, client=client))
        if cfg.outbox_publish_to_broker:
            connection = stack.enter_context(events_connection(cfg))
            publishers.append(BrokerPublisher(connection))
        yield publishers


def relay_pending_events(*, session_scope: SessionScope, cfg: Settings = settings) -> RelayResult:
    """One relay tick with the destinations from settings (what the ``outbox.relay`` task runs)."""
    if not cfg.outbox_relay_enabled:
        return RelayResult()
    with open_publishers(cfg) as publishers:
        relay = OutboxRelay(publishers, backoff=backoff_from_settings(cfg), batch_size=cfg.outbox_batch_size)
        return relay.drain(session_scope=session_scope)
