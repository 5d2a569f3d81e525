"""The outbox relay against real destinations: an HTTP server on loopback, RabbitMQ and Redis; and two relays
draining one PostgreSQL outbox at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.config import Settings
from service.db import build_engine, session_scope, utcnow
from service.migrate import migrate
from service.outbox.models import OutboxEvent
from service.outbox.relay import BrokerPublisher, OutboxRelay, RelayResult, WebhookPublisher, relay_pending_events
from service.outbox.service import Backoff
from service.outbox.service import outbox as outbox_service
from service.queue import EVENTS_EXCHANGE, events_connection
from tests.fixtures.database import create_postgres_database, drop_postgres_database, skip_without_postgres
from tests.fixtures.storage import free_port

Scope = Callable[[], AbstractContextManager[Session]]
BACKOFF = Backoff(base_s=5, max_s=60)


@dataclass
class Delivery:
    key: str
    topic: str
    body: dict[str, Any]
    status: int


@dataclass
class WebhookServer:
    """A real HTTP endpoint: answers the queued ``statuses`` first, then 200; records every request."""

    port: int
    statuses: list[int] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    delay_s: float = 0.0
    # When set, the first request is held until it is: a relay stays inside its batch meanwhile.
    hold_first: threading.Event | None = None
    first_arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/reftrack"

    def delivered(self) -> list[str]:
        """Event ids the server accepted (answered 2xx), in order."""
        return [d.key for d in self.deliveries if d.status < 300]


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    server = WebhookServer(port=free_port())

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with server.lock:
                first = not server.first_arrived.is_set()
                server.first_arrived.set()
                status = server.statuses.pop(0) if server.statuses else 200
            if first and server.hold_first is not None:
                server.hold_first.wait(timeout=30)
            time.sleep(server.delay_s)
            with server.lock:
                server.deliveries.append(
                    Delivery(self.headers["Idempotency-Key"], self.headers["X-Reftrack-Topic"], body, status)
                )
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no" if status >= 300 else b"ok")

        def log_message(self, *_: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", server.port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as client:
        yield client


def add_events(scope: Scope, *topics: str) -> list[OutboxEvent]:
    with scope() as s:
        events = [
            outbox_service.add(s, topic=topic, payload={"analysis_id": str(uuid.uuid4()), "n": n})
            for n, topic in enumerate(topics)
        ]
    return events


def stored(session: Session, event: OutboxEvent) -> tuple[int, str | None, bool]:
    """``(attempts, last_error, published)`` as committed."""
    session.expire_all()
    row = session.get(OutboxEvent, event.id)
    assert row is not None
    return row.attempts, row.last_error, row.published_at is not None


def body_of(event: OutboxEvent) -> dict[str, Any]:
    return {
        "id": str(event.id),
        "topic": event.topic,
        "payload": event.payload,
        "created_at": event.created_at.astimezone(UTC).isoformat(),
    }


def test_webhook_failures_back_off_and_the_event_is_published_once(
    scope: Scope, session: Session, webhook: WebhookServer, http: httpx.Client
) -> None:
    # given: an endpoint that fails twice before it accepts
    (event,) = add_events(scope, "analysis.succeeded")
    webhook.statuses = [503, 503]
    relay = OutboxRelay([WebhookPublisher(webhook.url, client=http)], backoff=BACKOFF, batch_size=10)
    created = event.created_at

    def drain(after_s: float) -> RelayResult:
        return relay.drain(session_scope=scope, now=created + timedelta(seconds=after_s))

    # when / then: each failure is recorded and pushes the next attempt back (5 s, then 10 s more)
    first = drain(0.5)
    assert (first.published, first.failed) == ([], [event.id])
    assert stored(session, event) == (1, "webhook answered 503: no", False)
    assert drain(4.5).failed == []
    second = drain(5.5)
    assert (second.published, second.failed) == ([], [event.id])
    assert stored(session, event) == (2, "webhook answered 503: no", False)
    assert drain(14.5).failed == []
    third = drain(15.5)
    assert (third.published, third.failed) == ([event.id], [])
    assert stored(session, event) == (3, "webhook answered 503: no", True)
    later = drain(3600)
    assert (later.published, later.failed) == ([], [])

    # then: three identical requests, one accepted
    assert [(d.key, d.topic, d.status) for d in webhook.deliveries] == [
        (str(event.id), "analysis.succeeded", 503),
        (str(event.id), "analysis.succeeded", 503),
        (str(event.id), "analysis.succeeded", 200),
    ]
    assert [d.body for d in webhook.deliveries] == [body_of(event)] * 3


@pytest.mark.parametrize(("status", "error"), [(302, "webhook answered 302: no"), (404, "webhook answered 404: no")])
def test_any_answer_but_2xx_is_a_failure(
    scope: Scope, session: Session, webhook: WebhookServer, http: httpx.Client, status: int, error: str
) -> None:
    # given
    (event,) = add_events(scope, "analysis.failed")
    webhook.statuses = [status]
    relay = OutboxRelay([WebhookPublisher(webhook.url, client=http)], backoff=BACKOFF, batch_size=10)
    # when
    result = relay.drain(session_scope=scope)
    # then
    assert result.failed == [event.id]
    assert stored(session, event) == (1, error, False)


def test_an_unreachable_webhook_is_a_failure(scope: Scope, session: Session, http: httpx.Client) -> None:
    # given: nothing listens on the port
    (event,) = add_events(scope, "analysis.failed")
    relay = OutboxRelay(
        [WebhookPublisher(f"http://127.0.0.1:{free_port()}/", client=http)], backoff=BACKOFF, batch_size=10
    )
    # when
    result = relay.drain(session_scope=scope)
    # then
    assert result.failed == [event.id]
    attempts, error, published = stored(session, event)
    assert (attempts, published) == (1, False)
    assert error is not None
    assert error.startswith("webhook request failed: ConnectError: ")


def test_a_failure_ends_the_batch_and_later_events_go_out_on_the_next_tick(
    scope: Scope, session: Session, webhook: WebhookServer, http: httpx.Client
) -> None:
    # given
    events = add_events(scope, "analysis.succeeded", "analysis.failed", "analysis.succeeded")
    webhook.statuses = [500]
    relay = OutboxRelay([WebhookPublisher(webhook.url, client=http)], backoff=BACKOFF, batch_size=10)
    now = utcnow()
    # when
    first = relay.drain(session_scope=scope, now=now)
    second = relay.drain(session_scope=scope, now=now)
    # then: one request while the endpoint failed; the failed event then waits out its backoff
    assert (first.published, first.failed) == ([], [events[0].id])
    assert (second.published, second.failed) == ([events[1].id, events[2].id], [])
    assert [(d.key, d.status) for d in webhook.deliveries] == [
        (str(events[0].id), 500),
        (str(events[1].id), 200),
        (str(events[2].id), 200),
    ]
    assert [stored(session, e) for e in events] == [
        (1, "webhook answered 500: no", False),
        (1, None, True),
        (1, None, True),
    ]


def test_settings_choose_the_destination_and_nothing_is_claimed_without_one(
    scope: Scope, session: Session, webhook: WebhookServer, tmp_path: Path
) -> None:
    # given
    (event,) = add_events(scope, "analysis.succeeded")
    # when: no destination configured
    idle = relay_pending_events(session_scope=scope, cfg=Settings(_env_file=None, data_dir=tmp_path))
    # then
    assert (idle.published, idle.failed) == ([], [])
    assert stored(session, event) == (0, None, False)
    # when
    cfg = Settings(_env_file=None, data_dir=tmp_path, webhook_url=webhook.url)
    relayed = relay_pending_events(session_scope=scope, cfg=cfg)
    # then
    assert relayed.published == [event.id]
    assert webhook.delivered() == [str(event.id)]


def test_backoff_schedule_is_cumulative_and_capped() -> None:
    backoff = Backoff(base_s=5, max_s=60)
    assert [backoff.delay_s(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert [backoff.due_after_s(n) for n in range(7)] == [0, 5, 15, 35, 75, 135, 195]


@pytest.mark.parametrize("attempts", [0, 1, 2, 3, 4, 5, 6, 9])
def test_the_database_judges_the_backoff_as_the_schedule_says(
    scope: Scope, session: Session, webhook: WebhookServer, http: httpx.Client, attempts: int
) -> None:
    # given: an event that failed ``attempts`` times
    (event,) = add_events(scope, "analysis.succeeded")
    with scope() as s:
        row = s.get(OutboxEvent, event.id)
        assert row is not None
        row.attempts = attempts
    due_after = BACKOFF.due_after_s(attempts)
    relay = OutboxRelay([WebhookPublisher(webhook.url, client=http)], backoff=BACKOFF, batch_size=10)
    # when
    early = relay.drain(session_scope=scope, now=event.created_at + timedelta(seconds=due_after - 0.5))
    due = relay.drain(session_scope=scope, now=event.created_at + timedelta(seconds=due_after + 0.5))
    # then
    assert (early.published, due.published) == ([], [event.id])


@pytest.fixture(params=["amqp", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.mark.integration
def test_events_reach_a_queue_bound_to_the_events_exchange(
    scope: Scope, session: Session, broker_url: str, tmp_path: Path
) -> None:
    # given: a consumer's queue bound to the analysis topics only
    cfg = Settings(_env_file=None, data_dir=tmp_path, broker_url=broker_url, outbox_publish_to_broker=True)
    events = add_events(scope, "analysis.succeeded", "track.deleted", "analysis.failed")
    with Connection(broker_url) as consumer:
        queue = Queue(f"test-events-{uuid.uuid4().hex[:8]}", EVENTS_EXCHANGE, routing_key="analysis.*")(
            consumer.default_channel
        )
        queue.declare()
        try:
            # when
            result = relay_pending_events(session_scope=scope, cfg=cfg)
            received = []
            while (message := queue.get(no_ack=True)) is not None:
                received.append(message)
        finally:
            queue.delete()
    # then
    assert (result.published, result.failed) == ([e.id for e in events], [])
    assert [m.payload for m in received] == [body_of(events[0]), body_of(events[2])]
    assert [m.delivery_info["routing_key"] for m in received] == ["analysis.succeeded", "analysis.failed"]
    assert [m.properties["message_id"] for m in received] == [str(events[0].id), str(events[2].id)]
    assert [m.headers["idempotency-key"] for m in received] == [str(events[0].id), str(events[2].id)]
    assert [m.properties["delivery_mode"] for m in received] == [2, 2]
    assert [stored(session, e) for e in events] == [(1, None, True)] * 3


@pytest.mark.integration
def test_a_message_rabbitmq_refuses_is_not_marked_published(
    scope: Scope, session: Session, amqp_url: str, tmp_path: Path
) -> None:
    # given: an exchange that disappears after the publisher declared it
    cfg = Settings(_env_file=None, data_dir=tmp_path, broker_url=amqp_url)
    exchange = Exchange(f"test-events-{uuid.uuid4().hex[:8]}", type="topic", durable=False)
    (accepted,) = add_events(scope, "analysis.succeeded")
    with events_connection(cfg) as connection:
        relay = OutboxRelay([BrokerPublisher(connection, exchange=exchange)], backoff=BACKOFF, batch_size=10)
        assert relay.drain(session_scope=scope).published == [accepted.id]
        with Connection(amqp_url) as admin:
            exchange(admin.default_channel).delete()
        (refused,) = add_events(scope, "analysis.succeeded")
        # when
        result = relay.drain(session_scope=scope)
    # then: the broker's refusal came back through the publisher confirm
    assert (result.published, result.failed) == ([], [refused.id])
    attempts, error, published = stored(session, refused)
    assert (attempts, published) == (1, False)
    assert error is not None
    assert "NOT_FOUND" in error


@pytest.fixture(scope="module")
def pg_factory() -> Iterator[sessionmaker[Session]]:
    """A PostgreSQL database of its own: the relays below commit, each in its own connection."""
    skip_without_postgres()
    url = create_postgres_database()
    migrate(url)
    engine = build_engine(url, pool_size=4)
    try:
        yield sessionmaker(bind=engine, expire_on_commit=False)
    finally:
        engine.dispose()
        drop_postgres_database(url)


def committed_events(factory: sessionmaker[Session], n: int) -> list[uuid.UUID]:
    """``n`` committed events, a millisecond apart, oldest first."""
    base = utcnow() - timedelta(minutes=1)
    with session_scope(factory) as s:
        events = [
            OutboxEvent(topic="analysis.succeeded", payload={"n": i}, created_at=base + timedelta(milliseconds=i))
            for i in range(n)
        ]
        s.add_all(events)
    return [e.id for e in events]


def drain_until_empty(relay: OutboxRelay, scope: Scope) -> list[uuid.UUID]:
    published: list[uuid.UUID] = []
    while True:
        result = relay.drain(session_scope=scope)
        assert result.failed == []
        if not result.published:
            return published
        published.extend(result.published)


@pytest.mark.integration
def test_a_relay_skips_the_events_another_relay_is_publishing(
    pg_factory: sessionmaker[Session], webhook: WebhookServer
) -> None:
    # given: relay A's first request is held by the endpoint, so A sits inside its batch of 5 with the rows locked
    ids = committed_events(pg_factory, 20)
    webhook.hold_first = threading.Event()
    scope: Scope = lambda: session_scope(pg_factory)  # noqa: E731
    got: dict[str, list[uuid.UUID]] = {}

    def run(name: str) -> None:
        with httpx.Client(timeout=30) as client:
            relay = OutboxRelay([WebhookPublisher(webhook.url, client=client)], backoff=BACKOFF, batch_size=5)
            got[name] = drain_until_empty(relay, scope)

    a = threading.Thread(target=run, args=("a",))
    a.start()
    assert webhook.first_arrived.wait(timeout=30)
    # when: relay B drains meanwhile, then A is let go
    run("b")
    webhook.hold_first.set()
    a.join(timeout=30)
    # then: B took everything but A's batch, and every event went out once
    assert got == {"a": ids[:5], "b": ids[5:]}
    assert Counter(webhook.delivered()) == Counter({str(i): 1 for i in ids})
    with session_scope(pg_factory) as s:
        rows = list(s.execute(select(OutboxEvent.attempts, OutboxEvent.published_at).where(OutboxEvent.id.in_(ids))))
    assert [(attempts, at is not None) for attempts, at in rows] == [(1, True)] * 20


@pytest.mark.integration
def test_two_relays_draining_one_outbox_publish_each_event_exactly_once(
    pg_factory: sessionmaker[Session], webhook: WebhookServer
) -> None:
    # given
    ids = committed_events(pg_factory, 200)
    webhook.delay_s = 0.002
    scope: Scope = lambda: session_scope(pg_factory)  # noqa: E731
    start = threading.Barrier(2)
    got: dict[str, list[uuid.UUID]] = {}

    def run(name: str) -> None:
        with httpx.Client(timeout=30) as client:
            relay = OutboxRelay([WebhookPublisher(webhook.url, client=client)], backoff=BACKOFF, batch_size=7)
            start.wait()
            got[name] = drain_until_empty(relay, scope)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    # then
    assert sorted(got["a"] + got["b"]) == sorted(ids)
    assert set(got["a"]).isdisjoint(got["b"])
    assert Counter(webhook.delivered()) == Counter({str(i): 1 for i in ids})
    assert len(webhook.deliveries) == 200


def test_relay_command_publishes_once_in_the_foreground(tmp_path: Path, webhook: WebhookServer) -> None:
    # given: an embedded data directory with one pending event
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'reftrack.db'}"
    migrate(url)
    engine = build_engine(url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    (event_id,) = committed_events(factory, 1)
    # when
    without = run_cli("maintenance", "relay", data_dir=data_dir)
    relayed = run_cli("maintenance", "relay", data_dir=data_dir, env={"REFTRACK_WEBHOOK_URL": webhook.url})
    # then
    assert (without.returncode, without.stderr.splitlines()[-1]) == (
        1,
        "error: set REFTRACK_WEBHOOK_URL or REFTRACK_OUTBOX_PUBLISH_TO_BROKER to relay events",
    )
    assert (relayed.returncode, relayed.stdout) == (0, "events published: 1, failed: 0\n"), relayed.stderr
    assert webhook.delivered() == [str(event_id)]
    engine.dispose()


def run_cli(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REFTRACK_")}
    return subprocess.run(
        [sys.executable, "-m", "reftrack_cli.main", *args],
        cwd=Path(__file__).resolve().parents[3],
        env={**clean, "REFTRACK_DATA_DIR": str(data_dir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
