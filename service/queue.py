"""The Celery application as seen by the service: configuration shared with the workers, and the one helper
that enqueues work (by task name, after the transaction commits)."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue
from sqlalchemy.orm import Session

from service.config import Settings, settings
from service.db import after_commit

ANALYSIS_QUEUE = "analysis"
BULK_QUEUE = "analysis.bulk"


def celery_config(cfg: Settings) -> dict[str, Any]:
    transport_options: dict[str, Any] = {
        "visibility_timeout": cfg.broker_visibility_timeout,
        # kombu's Redis transport looks for expired unacked messages only every interval * throttle seconds
        # (10 * 10 by default), so a crashed worker's task reached another worker up to 100 s after the
        # visibility timeout. Sweep on every tick, at most 10 s apart.
        "unacked_restore_interval": max(1, min(10, cfg.broker_visibility_timeout // 5)),
        "unacked_restore_throttle": 1,
    }
    if cfg.embedded_broker:
        # One folder is both inbox and outbox: the embedded worker and the API share a machine.
        folder = str(cfg.queue_dir)
        transport_options = {
            "data_folder_in": folder,
            "data_folder_out": folder,
            "control_folder": str(cfg.queue_dir / "control"),
            "store_processed": False,
        }
    return {
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
        "task_queues": tuple(Queue(q, Exchange(q, type="direct"), routing_key=q) for q in (ANALYSIS_QUEUE, BULK_QUEUE)),
        "task_default_exchange": ANALYSIS_QUEUE,
        "task_default_routing_key": ANALYSIS_QUEUE,
        "task_routes": {"track.analyze": {"queue": ANALYSIS_QUEUE}},
        "worker_hijack_root_logger": False,
        "broker_heartbeat": 0 if cfg.embedded_broker else 60,
        "timezone": "UTC",
    }


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


def check_broker(timeout: float = 3.0) -> None:
    with producer().connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
