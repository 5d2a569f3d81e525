"""The Celery application the workers run: ``celery -A workers.celery_app worker`` (or ``reftrack worker``).

Celery beat (``reftrack beat``, or ``reftrack worker --beat``) sends its periodic tasks: see
``service.queue.beat_schedule``.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery.signals import worker_init, worker_process_init

# Every model must be mapped before the first flush, or foreign keys to tables the tasks never import
# (users) cannot be resolved: NoReferencedTableError on the first analysis.
import service.models  # noqa: F401
from service.config import settings
from service.db import database
from service.queue import make_celery
from service.storage import set_storage
from service.tempfiles import sweep_stale_temp_files

app = make_celery(settings, name="reftrack")
app.conf.include = ["workers.tasks", "workers.maintenance"]
if settings.worker_concurrency:
    app.conf.worker_concurrency = settings.worker_concurrency


@worker_process_init.connect
def _reset_after_fork(**_: Any) -> None:
    # Connections and HTTP pools must not be shared with the parent process after fork.
    database.dispose()
    set_storage(None)
    _share_the_cores()
    logging.getLogger(__name__).debug("worker.process.init")


# Pool processes on this machine, recorded by the parent before it forks them.
_pool_processes = 1


def _share_the_cores() -> None:
    """Give each pool process its share of the cores for FFTs and BLAS.

    Every library defaults to all cores; with two pool processes on two cores each analysis then ran at a
    quarter of its solo speed (threads of both processes contending), and two processes were slower than one.
    """
    import threadpoolctl

    from analysis import set_threads

    share = max(1, (os.cpu_count() or 1) // max(1, _pool_processes))
    set_threads(share)
    threadpoolctl.threadpool_limits(share)


@worker_init.connect
def _sweep_at_start(**_: Any) -> None:
    # A worker SIGKILLed mid-analysis left its download behind; this is the first chance to delete it.
    sweep_stale_temp_files(settings.tmp_dir, max_age_s=settings.tmp_max_age_s)


@worker_init.connect
def _warm_up(sender: Any = None, **_: Any) -> None:
    global _pool_processes
    _pool_processes = int(getattr(sender, "concurrency", None) or settings.worker_concurrency or 1)
    if not settings.worker_warmup:
        return
    from analysis.pipeline import warm_up

    warm_up()
