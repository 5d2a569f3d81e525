"""Base class for reftrack tasks: the analysis state machine's failure edge lives here, in one place."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from celery import Task

from service.analysis_run.flows import mark_failed
from service.db import session_scope

log = logging.getLogger(__name__)


class AnalysisTask(Task):  # type: ignore[misc]
    """A task whose first argument is an analysis id: when it finally fails, the analysis is marked failed."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        analysis_id = args[0] if args else kwargs.get("analysis_id")
        if analysis_id is None:
            return
        message = f"analysis stopped after {self.request.retries + 1} attempts: {type(exc).__name__}: {exc}"
        try:
            mark_failed(uuid.UUID(str(analysis_id)), session_scope=session_scope, message=message)
        except Exception:
            log.exception("track.analysis.mark_failed_error", extra={"analysis_id": analysis_id})
