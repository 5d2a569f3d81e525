"""Periodic upkeep, sent by celery beat (``service.queue.beat_schedule``) to the maintenance queue."""

from __future__ import annotations

from service.analysis_run.reaper import reap_stuck_analyses
from service.config import settings
from service.db import session_scope
from service.outbox.relay import relay_pending_events
from service.queue import REAP_TASK, RELAY_TASK, SWEEP_TASK
from service.tempfiles import sweep_stale_temp_files
from workers.celery_app import app


# No retries and early acks: a tick that fails or dies is simply the next tick's work. Overlapping ticks are
# safe, since both jobs claim rows under lock.
@app.task(name=REAP_TASK, acks_late=False)
def reap_analyses() -> None:
    """Re-queue analyses whose worker or message was lost; fail those out of attempts."""
    reap_stuck_analyses(session_scope=session_scope)


@app.task(name=RELAY_TASK, acks_late=False)
def relay_outbox() -> None:
    """Publish committed outbox events to the webhook and/or the broker."""
    relay_pending_events(session_scope=session_scope)


# Each machine has its own temporary folder and this tick reaches one of them; every worker also sweeps its
# own when it starts (workers.celery_app).
@app.task(name=SWEEP_TASK, acks_late=False)
def sweep_temp_files() -> None:
    """Delete temporary files left by killed processes."""
    sweep_stale_temp_files(settings.tmp_dir, max_age_s=settings.tmp_max_age_s)
