"""A worker killed mid-analysis whose message the broker will not hand out again for an hour: the reaper, run by a
separate ``reftrack beat``, sends the analysis again, and the outbox relay delivers its one ``analysis.succeeded``
event to a webhook."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.outbox.models import OutboxEvent
from tests.e2e.stacks import BPM, KEY, ClickWav, StackFactory
from tests.e2e.support import (
    FEATURES,
    analysis_status,
    check_stored_outputs,
    cli,
    upload,
    wait_for_status,
    wait_until,
)
from tests.fixtures.storage import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SECONDS = 120.0
ANALYSIS_TIMEOUT_S = 30
REAPER_INTERVAL_S = 2


class Hooks:
    """A webhook receiver on loopback that records the JSON bodies it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.bodies: list[dict[str, Any]] = []
        self.keys: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    receiver = Hooks()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with receiver.lock:
                receiver.bodies.append(body)
                receiver.keys.append(self.headers["Idempotency-Key"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_analysis_of_a_killed_worker_is_recovered_by_the_reaper(
    start_stack: StackFactory, redis_url: str, click_wav: ClickWav, hooks: Hooks
) -> None:
    # given: Redis keeps an unacknowledged message for an hour, so only the reaper can bring the analysis back
    stack = start_stack(
        broker_url=redis_url,
        extra_env={
            "REFTRACK_BROKER_VISIBILITY_TIMEOUT": "3600",
            "REFTRACK_ANALYSIS_TIMEOUT_S": str(ANALYSIS_TIMEOUT_S),
            "REFTRACK_REAPER_INTERVAL_S": str(REAPER_INTERVAL_S),
            "REFTRACK_WEBHOOK_URL": hooks.url,
            "REFTRACK_OUTBOX_RELAY_INTERVAL_S": "1",
            "REFTRACK_WORKER_WARMUP": "false",
        },
    )
    beat = stack.processes.start("beat", cli("beat"), stack.env)
    wav = click_wav(seconds=SECONDS, seed=3)
    assert stack.worker is not None
    first_worker = stack.worker

    with stack.client() as client:
        response = upload(client, wav)
        assert response.status_code == 202, response.text
        track_id = response.json()["id"]
        running = wait_for_status(client, track_id, "running", stack.processes)
        assert running["attempts"] == 1

        # when
        stack.processes.kill(first_worker)
        killed_at = time.monotonic()
        at_kill = analysis_status(client, track_id)
        assert (at_kill["status"], at_kill["attempts"]) == ("running", 1), (
            f"the analysis finished before the worker was killed; use a longer track: {at_kill}"
        )
        stack.start_worker()
        analysis = wait_for_status(client, track_id, "succeeded", stack.processes)
        recovered_after = time.monotonic() - killed_at

    # then: a second attempt, sent again by the reaper after the timeout, wrote one set of results
    assert analysis["attempts"] == 2
    assert analysis["results"]["key"] == KEY
    assert abs(analysis["results"]["bpm"] - BPM) <= 0.02 * BPM
    stored = check_stored_outputs(stack.engine, analysis["id"], bpm=BPM, seconds=SECONDS)
    assert stored.n_manifest_rows == len(FEATURES)
    assert stack.worker is not None
    assert "analysis.reaper.reaped" in stack.worker.output()
    assert "Sending due task analysis.reap" in beat.output()
    assert recovered_after < ANALYSIS_TIMEOUT_S + 60, f"recovery took {recovered_after:.0f} s\n{stack.processes.logs()}"

    # then: the relay delivers the success event once and marks it published
    def delivered() -> list[dict[str, Any]] | None:
        with hooks.lock:
            return list(hooks.bodies) or None

    bodies = wait_until(delivered, timeout=30, what="the webhook delivery", context=stack.processes.logs)

    # The relay records the delivery once the webhook has answered: wait for its commit, not just the POST.
    def recorded() -> list[OutboxEvent] | None:
        with Session(stack.engine) as session:
            rows = list(session.scalars(select(OutboxEvent)))
        return rows if all(e.published_at is not None for e in rows) else None

    events = wait_until(recorded, timeout=30, what="the relay recording the delivery", context=stack.processes.logs)
    assert [(e.topic, e.payload["analysis_id"], e.attempts, e.published_at is not None) for e in events] == [
        ("analysis.succeeded", analysis["id"], 1, True)
    ]
    time.sleep(2)  # a few more relay ticks: nothing is sent again
    assert [(b["topic"], b["payload"]["analysis_id"]) for b in bodies] == [("analysis.succeeded", analysis["id"])]
    assert hooks.keys == [str(events[0].id)]
    assert uuid.UUID(bodies[0]["id"]) == events[0].id
