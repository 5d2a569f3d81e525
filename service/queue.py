"""The Celery application as seen by the service: configuration shared with the workers, and the one helper
that enqueues work (by task name, after the transaction commits)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from celery import Celery
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from sqlalchemy.orm import Session

from service.config import Settings, settings
from service.db import after_commit

ANALYSIS_QUEUE = "analysis"
BULK_QUEUE = "analysis.bulk"
# Periodic upkeep (the reaper, the outbox relay) has its own queue, so a dedicated small worker can take it
# (``reftrack worker --queues=maintenance``) while the analysis workers are busy with long tasks.
MAINTENANCE_QUEUE = "maintenance"
ANALYZE_TASK = "track.analyze"
IMPORT_TASK = "library.import"
REAP_TASK = "analysis.reap"
RELAY_TASK = "outbox.relay"
SWEEP_TASK = "tmp.sweep"

# Outbox events published to the broker: a durable topic exchange, routing key = event topic
# ("analysis.succeeded"), so a consumer binds its own queue with e.g. "analysis.*".
EVENTS_EXCHANGE = Exchange("reftrack.events", type="topic", durable=True)
_MIN_TICK_EXPIRY_S = 60.0


def beat_schedule(cfg: Settings) -> dict[str, dict[str, Any]]:
    """The periodic tasks celery beat sends; an interval of 0 turns one off.

    Ticks expire, so that while every worker is busy with long analyses they are dropped instead of piling up
    and then running back to back. Not sooner than a minute, though: the expiry is a timestamp set by beat and
    checked against the worker's clock, and a few seconds of skew between machines would drop every tick.
    """
    entries = {
        REAP_TASK: cfg.reaper_interval_s,
        RELAY_TASK: cfg.outbox_relay_interval_s if cfg.outbox_relay_enabled else 0.0,
        SWEEP_TASK: cfg.tmp_sweep_interval_s,
    }
    return {
        name: {
            "task": name,
            "schedule": interval,
            "options": {"queue": MAINTENANCE_QUEUE, "expires": max(interval, _MIN_TICK_EXPIRY_S)},
        }
        for name, interval in entries.items()
        if interval > 0
    }


def celery_config(cfg: Settings) -> dict[str, Any]:
    transport_options: dict[str, Any] = {
        "visibility_timeout": cfg.broker_visibility_timeout,
        # kombu's Redis transport looks for expired unacked messages only every interval * throttle seconds
        # (10 * 10 by default), so a crashed worker's task reached another worker up to 100 s after the
        # visibility timeout. Sweep on every tick, at most 10 s apart.
        "unacked_restore_interval": max(1, min(10, cfg.broker_visibility_timeout // 5)),
        "unacked_restore_throttle": 1,
        # Redis: always take from the queues in the order a worker lists them (analysis, then analysis.bulk),
        # instead of round robin, so an upload is analysed before a queued import backlog.
        "queue_order_strategy": "priority",
    }
    if cfg.embedded_broker:
        # One folder is both inbox and outbox: the embedded worker and the API share a machine.
        folder = str(cfg.queue_dir)
        transport_options = {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": str(cfg.queue_dir / "control"),
            "store_processed": False,
            # The folder is polled; kombu's default of once a second left each worker idle for half a second
            # on average between two analyses (~40 % of a library import's time in the embedded default).
            "polling_interval": 0.1,
        }
    config = {
        "broker_url": cfg.celery_broker_url,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": ANALYSIS_QUEUE,
        # Each queue gets its own exchange and routing key: queues left to Celery's defaults all bind to the
        # default exchange and key, and every message would then be delivered to each of them.
        "task_queues": tuple(
            Queue(q, Exchange(q, type="direct"), routing_key=q) for q in (ANALYSIS_QUEUE, BULK_QUEUE, MAINTENANCE_QUEUE)
        ),
        "task_default_exchange": ANALYSIS_QUEUE,
        "task_default_routing_key": ANALYSIS_QUEUE,
        "task_routes": {
            ANALYZE_TASK: {"queue": ANALYSIS_QUEUE},
            REAP_TASK: {"queue": MAINTENANCE_QUEUE},
            RELAY_TASK: {"queue": MAINTENANCE_QUEUE},
            SWEEP_TASK: {"queue": MAINTENANCE_QUEUE},
        },
        "beat_schedule": beat_schedule(cfg),
        "beat_schedule_filename": str(cfg.beat_schedule_file),
        "worker_hijack_root_logger": False,
        "broker_heartbeat": 0 if cfg.embedded_broker else 60,
        "timezone": "UTC",
    }
    if cfg.embedded_broker:
        # With acks_late and a prefetch of one, a worker can only reserve its next task once the running one is
        # acknowledged, and then waits for the next poll of the folder: ~70 ms between two analyses, 11 % of
        # the analysis time of a library import. One task reserved ahead starts as soon as the last one ends.
        # There is one worker, so no other worker waits for the task it holds; an upload arriving meanwhile
        # waits for at most that one reserved analysis.
        config["worker_prefetch_multiplier"] = 2
    return config


def make_celery(cfg: Settings, *, name: str = "reftrack") -> Celery:
    if cfg.embedded_broker:
        cfg.queue_dir.mkdir(parents=True, exist_ok=True)
    app = Celery(name)
    app.conf.update(celery_config(cfg))
    return app


_producer: Celery | None = None


def producer() -> Celery:
    global _producer
    if _producer is None:
        _producer = make_celery(settings, name="reftrack-api")
    return _producer


def enqueue(session: Session, task_name: str, *args: Any, queue: str | None = None) -> None:
    """Send ``task_name`` once ``session`` commits; nothing is sent if it rolls back."""

    def send() -> None:
        producer().send_task(task_name, args=list(args), queue=queue)

    after_commit(session, send)


def enqueue_many(
    session: Session, task_name: str, ids: Sequence[uuid.UUID], *, queue: str, sent: set[uuid.UUID] | None = None
) -> None:
    """Send ``task_name`` once per id (its one argument) once ``session`` commits, over one broker connection.

    Ids land in ``sent`` as their message is handed to the broker, so a send that fails half-way tells the
    caller which ones to send again.
    """
    if not ids:
        return
    pending = list(ids)

    def send() -> None:
        app = producer()
        with app.producer_or_acquire() as connection:
            for item in pending:
                app.send_task(task_name, args=[str(item)], queue=queue, producer=connection)
                if sent is not None:
                    sent.add(item)

    after_commit(session, send)


def events_connection(cfg: Settings) -> Connection:
    """A broker connection for publishing outbox events, with publisher confirms where the transport has them.

    With ``confirm_publish`` (AMQP), each publish waits for the broker's ack and a refused message raises
    instead of vanishing; transports without confirms (Redis) ignore the option.
    """
    options = {**celery_config(cfg)["broker_transport_options"], "confirm_publish": True}
    return Connection(cfg.celery_broker_url, transport_options=options, connect_timeout=10)


def check_broker(timeout: float = 3.0) -> None:
    with producer().connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
