"""Interactive uploads are analysed before a queued import backlog: on Redis a worker drains its queues in order."""

from __future__ import annotations

import uuid

import pytest
from celery import Celery

from service.config import Settings
from service.queue import ANALYSIS_QUEUE, BULK_QUEUE, celery_config


@pytest.mark.integration
def test_a_worker_on_redis_takes_an_upload_before_an_older_bulk_backlog(redis_url: str) -> None:
    # given: a backlog of imports, then two uploads, on a fresh pair of queues
    app = Celery("priority-test")
    app.conf.update(celery_config(Settings(_env_file=None, broker_url=redis_url)))
    suffix = uuid.uuid4().hex[:8]
    interactive, bulk = f"{ANALYSIS_QUEUE}-{suffix}", f"{BULK_QUEUE}-{suffix}"
    with app.connection_for_write() as conn:
        for i in range(5):
            app.send_task("track.analyze", args=[f"bulk-{i}"], queue=bulk, connection=conn)
        for i in range(2):
            app.send_task("track.analyze", args=[f"upload-{i}"], queue=interactive, connection=conn)
    # when: a consumer listens on both, uploads first, as `reftrack worker` does
    received: list[str] = []
    with app.connection_for_read() as conn:
        queues = [app.amqp.queues.select_add(name) or app.amqp.queues[name] for name in (interactive, bulk)]
        with conn.Consumer(queues, accept=["json"], callbacks=[lambda body, message: _take(received, message)]):
            while len(received) < 7:
                conn.drain_events(timeout=5)
        for name in (interactive, bulk):
            app.amqp.queues[name](conn.default_channel).delete()
    # then: both uploads first (round robin would take one from each queue in turn)
    assert received == ["upload-0", "upload-1"] + [f"bulk-{i}" for i in range(5)]


def _take(received: list[str], message: object) -> None:
    body = message.decode()  # type: ignore[attr-defined]
    received.append(body[0][0])
    message.ack()  # type: ignore[attr-defined]
