"""Base classes of reftrack tasks: the retry policy and the failure edge of every task live here, in one place.

A task that meets an outage (object storage or the database unreachable, timing out, answering 5xx or
throttling: :func:`service.faults.is_transient`) runs again after ``base * 2^n`` seconds, capped at
``task_retry_backoff_max_s``, until the backoffs add up to ``task_retry_budget_s``; only then does it fail.
Anything else is permanent for that input and fails at once. The budget is counted in the delays themselves,
which travel with the message as its retry count, so it needs neither the database nor a clock shared between
workers, and an outage shorter than the budget never fails a task, however busy the workers are.
"""

from __future__ import annotations

import logging
import random
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from celery import Task
from celery.exceptions import Retry
from sqlalchemy.orm import Session

from service.analysis_run.flows import mark_failed, mark_retrying
from service.analysis_run.models import FailureKind
from service.config import Settings, settings
from service.db import session_scope
from service.faults import is_transient

log = logging.getLogger(__name__)

# Each delay is stretched by up to this share at random, so tasks that met the same outage do not all come
# back in the same second; never shortened, so the budget stays a lower bound on the time retried.
_JITTER = 0.25


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff within a total time budget."""

    budget_s: float
    backoff_s: float
    backoff_max_s: float

    @classmethod
    def from_settings(cls, cfg: Settings) -> RetryPolicy:
        return cls(
            budget_s=cfg.task_retry_budget_s,
            backoff_s=cfg.task_retry_backoff_s,
            backoff_max_s=cfg.task_retry_backoff_max_s,
        )

    def backoff(self, retries: int) -> float:
        """The nominal delay before retry number ``retries + 1`` (``retries`` retries already made)."""
        # min() before the power would overflow a float after ~1000 retries; 2^60 is far past any cap.
        return min(self.backoff_max_s, self.backoff_s * 2.0 ** min(retries, 60))

    def waited(self, retries: int) -> float:
        """The nominal time spent waiting before the attempt that follows ``retries`` retries."""
        return sum(self.backoff(n) for n in range(retries))

    def delay(self, retries: int, *, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` once the budget is spent."""
        nominal = self.backoff(retries)
        if self.waited(retries) + nominal > self.budget_s:
            return None
        return nominal * (1.0 + _JITTER * (rng or random).random())


class ReftrackTask(Task):  # type: ignore[misc]
    """Retries transient failures within the budget; lets permanent ones fail at once.

    Subclasses say what else means "try again later" (:attr:`retry_also`) and what to record when an
    attempt is retried (:meth:`on_retrying`) or the task fails for good (:meth:`on_gave_up`).
    """

    abstract = True
    # The policy decides when to stop; Celery's own count must never stop it first.
    max_retries = None
    retry_also: tuple[type[BaseException], ...] = ()
    policy = RetryPolicy.from_settings(settings)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except Retry:
            raise
        except Exception as exc:
            if not self.is_retryable(exc):
                raise
            retries = int(self.request.retries or 0)
            delay = self.policy.delay(retries)
            if delay is None or self.request.called_directly:
                raise
            log.warning(
                "task.retry",
                extra={
                    "task": self.name,
                    "task_id": self.request.id,
                    "attempt": retries + 1,
                    "delay_s": round(delay, 1),
                    "error": f"{type(exc).__name__}: {exc}",
                },
            )
            raise self.retry(exc=exc, countdown=delay) from exc

    def scope(self) -> AbstractContextManager[Session]:
        """A transaction for recording a task's state (``session_scope``)."""
        return session_scope()

    def is_retryable(self, exc: BaseException) -> bool:
        return isinstance(exc, self.retry_also) or is_transient(exc)

    def attempts(self) -> int:
        return int(self.request.retries or 0) + 1

    def on_retry(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        try:
            self.on_retrying(exc, args, kwargs)
        except Exception as unrecorded:
            # Most likely the outage itself (the database is down): the next attempt records its own state. No
            # traceback: one per retry through a long outage would bury everything else in the log.
            log.warning(
                "task.retry.unrecorded",
                extra={"task": self.name, "task_id": task_id, "error": f"{type(unrecorded).__name__}: {unrecorded}"},
            )

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        transient = self.is_retryable(exc)
        if transient:
            reason = (
                f"gave up after {self.attempts()} attempts over {self.policy.waited(self.attempts() - 1) / 60:.0f} "
                f"min of an outage: {type(exc).__name__}: {exc}"
            )
        else:
            reason = f"{type(exc).__name__}: {exc}"
        try:
            self.on_gave_up(exc, args, kwargs, reason=reason, transient=transient)
        except Exception:
            log.exception("task.failure.unrecorded", extra={"task": self.name, "task_id": task_id})

    def on_retrying(self, exc: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Record that an attempt is retried (best effort: the outage may be the database's)."""

    def on_gave_up(
        self, exc: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any], *, reason: str, transient: bool
    ) -> None:
        """Record that the task failed for good, permanently or because an outage outlasted the budget."""


def _analysis_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> uuid.UUID | None:
    value = args[0] if args else kwargs.get("analysis_id")
    return None if value is None else uuid.UUID(str(value))


class AnalysisTask(ReftrackTask):
    """A task whose first argument is an analysis id: its state follows the task's retries and failure."""

    abstract = True

    def on_retrying(self, exc: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        analysis_id = _analysis_id(args, kwargs)
        if analysis_id is not None:
            message = f"attempt {self.attempts()} met an outage and will be retried: {type(exc).__name__}: {exc}"
            mark_retrying(analysis_id, session_scope=self.scope, message=message)

    def on_gave_up(
        self, exc: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any], *, reason: str, transient: bool
    ) -> None:
        analysis_id = _analysis_id(args, kwargs)
        if analysis_id is None:
            return
        kind = FailureKind.transient if transient else FailureKind.permanent
        mark_failed(analysis_id, session_scope=self.scope, message=f"analysis {reason}", kind=kind)
