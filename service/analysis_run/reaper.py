"""The reaper: finds analyses whose worker or message was lost, and sends them again or gives up on them.

A periodic task (``analysis.reap``) runs :func:`reap_stuck_analyses`. An analysis is *stuck* when

- it has been ``running`` for longer than ``analysis_timeout_s`` (its worker was killed, ran out of memory, or
  the broker dropped the unacknowledged message), or
- it has been ``queued`` for longer than ``analysis_queued_timeout_s`` (its message never reached a worker).

A stuck analysis that has not used up its attempts goes back to ``queued`` and the same analysis id is sent
again once the transaction commits (the task is idempotent: a rerun replaces the earlier outputs). One that
has is marked failed, which also writes its ``analysis.failed`` outbox event.

- it has ``failed`` because an outage outlasted its task's retry budget (``failure_kind = 'transient'``), over
  ``reaper_resend_transient_after_s`` ago, and it is younger than ``reaper_resend_transient_window_s``: the
  outage is most likely over, so it is sent again with a whole new budget. Past the window it stays failed, so
  an analysis is never sent again forever; a permanent failure (the input itself) is never sent again.

``started_at`` doubles as the time the analysis was last handed to a worker: a worker sets it when it starts,
and the reaper sets it when it re-queues. So a re-queued analysis is not considered again until a whole
timeout later, and a worker that is alive but merely slow is never re-queued twice in a row within the
timeout. ``lost_attempts`` only counts runs that started and never ended, so neither a message lost over and
over nor retries through an outage use them up, while an analysis that kills its worker every time (out of
memory) is failed once ``task_max_retries + 1`` of its attempts were lost.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisRun, AnalysisStatus, FailureKind
from service.analysis_run.repository import analysis_run_repository
from service.analysis_run.service import analysis_run as analysis_run_service
from service.config import Settings, settings
from service.db import SessionScope, utcnow
from service.queue import ANALYSIS_QUEUE, ANALYZE_TASK, enqueue

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReaperPolicy:
    running_timeout_s: float
    queued_timeout_s: float
    max_attempts: int
    batch_size: int = 100
    resend_transient_after_s: float = 15 * 60.0
    # 0 turns the re-sending of transient failures off.
    resend_transient_window_s: float = 24 * 3600.0

    @classmethod
    def from_settings(cls, cfg: Settings) -> ReaperPolicy:
        return cls(
            running_timeout_s=cfg.analysis_timeout_s,
            queued_timeout_s=cfg.analysis_queued_timeout_s,
            max_attempts=cfg.task_max_retries + 1,
            batch_size=cfg.reaper_batch_size,
            resend_transient_after_s=cfg.reaper_resend_transient_after_s,
            resend_transient_window_s=cfg.reaper_resend_transient_window_s,
        )


@dataclass(slots=True)
class ReapResult:
    requeued: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


class AnalysisReaper:
    def claim_stuck(self, session: Session, *, now: datetime, policy: ReaperPolicy) -> list[AnalysisRun]:
        """Lock up to ``policy.batch_size`` stuck analyses, oldest first, until the transaction ends.

        On PostgreSQL rows that a worker or another reaper holds are skipped (``FOR UPDATE SKIP LOCKED``), and
        the stuck condition is checked again on the row as it is once locked, so two reapers never take the same
        analysis. SQLite has no row locks; its write transaction (``BEGIN IMMEDIATE``) serialises reapers.
        """
        return analysis_run_repository.claim_stuck(
            session,
            running_before=now - timedelta(seconds=policy.running_timeout_s),
            queued_before=now - timedelta(seconds=policy.queued_timeout_s),
            transient_failed_before=now - timedelta(seconds=policy.resend_transient_after_s),
            transient_created_after=now - timedelta(seconds=policy.resend_transient_window_s),
            limit=policy.batch_size,
        )

    def reap(self, session: Session, *, now: datetime, policy: ReaperPolicy) -> ReapResult:
        """Re-queue or fail one batch of stuck analyses in the caller's transaction (sent once it commits)."""
        result = ReapResult()
        for run in self.claim_stuck(session, now=now, policy=policy):
            if run.status == AnalysisStatus.failed:
                # Failed only for an outage: its error stays readable until the next attempt starts.
                run.completed_at = None
                run.failure_kind = None
            else:
                lost = run.lost_attempts + (1 if run.status == AnalysisStatus.running else 0)
                if lost >= policy.max_attempts:
                    run.lost_attempts = lost
                    message = self._give_up_message(run, policy)
                    analysis_run_service.fail(session, analysis_id=run.id, message=message, kind=FailureKind.permanent)
                    result.failed.append(run.id)
                    continue
                run.lost_attempts = lost
            run.status = AnalysisStatus.queued
            run.started_at = now
            enqueue(session, ANALYZE_TASK, str(run.id), queue=run.queue or ANALYSIS_QUEUE)
            result.requeued.append(run.id)
        session.flush()
        return result

    def _give_up_message(self, run: AnalysisRun, policy: ReaperPolicy) -> str:
        if run.status == AnalysisStatus.running:
            return (
                f"the analysis did not finish after {run.lost_attempts} attempts: each one stopped without a result "
                f"for over {_duration(policy.running_timeout_s)} (the worker may have crashed or run out of memory)"
            )
        return (
            f"the analysis was given up after {run.lost_attempts} attempts: no worker took it up again within "
            f"{_duration(policy.queued_timeout_s)}"
        )


reaper = AnalysisReaper()


def reap_stuck_analyses(
    *, session_scope: SessionScope, cfg: Settings = settings, now: datetime | None = None
) -> ReapResult:
    """Reap every stuck analysis, one batch per transaction (what the ``analysis.reap`` task runs)."""
    policy = ReaperPolicy.from_settings(cfg)
    total = ReapResult()
    while True:
        with session_scope() as session:
            batch = reaper.reap(session, now=now or utcnow(), policy=policy)
        total.requeued.extend(batch.requeued)
        total.failed.extend(batch.failed)
        if len(batch.requeued) + len(batch.failed) < policy.batch_size:
            break
    if total.requeued or total.failed:
        log.warning(
            "analysis.reaper.reaped",
            extra={"requeued": [str(i) for i in total.requeued], "failed": [str(i) for i in total.failed]},
        )
    return total
