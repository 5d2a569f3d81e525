"""Celery tasks: ids in, one service call, nothing returned. Retries and failures: ``workers.base``."""

from __future__ import annotations

import uuid
from typing import Any

from service.analysis_run.flows import run_analysis
from service.config import settings
from service.db import session_scope
from service.library_import.service import ImportBusy
from service.library_import.service import library_import as library_import_service
from service.queue import ANALYZE_TASK, IMPORT_TASK
from service.storage import get_storage
from workers.base import AnalysisTask, ReftrackTask
from workers.celery_app import app


@app.task(
    name=ANALYZE_TASK,
    base=AnalysisTask,
    bind=True,
    acks_late=True,
    # A run past the reaper's timeout is then a dead worker, never a slow one still going.
    soft_time_limit=max(60, settings.analysis_timeout_s - 30),
    time_limit=settings.analysis_timeout_s,
)
def analyze_track(self: AnalysisTask, analysis_id: str) -> None:
    """Analyse one track and persist every result (idempotent: a rerun rewrites the same analysis)."""
    run_analysis(uuid.UUID(analysis_id), session_scope=session_scope, storage=get_storage(), tmp_dir=settings.tmp_dir)


class ImportTask(ReftrackTask):
    """An import another runner holds is retried like an outage; one that stops for good is failed with why."""

    abstract = True
    retry_also = (ImportBusy,)

    def on_gave_up(
        self, exc: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any], *, reason: str, transient: bool
    ) -> None:
        import_id = args[0] if args else kwargs.get("import_id")
        if import_id is None or isinstance(exc, ImportBusy):
            return  # another runner still holds the import, and will finish it
        # Importing the same source again skips every file already imported (by content hash).
        message = f"the import stopped: {reason}; import the source again to continue where it stopped"
        library_import_service.give_up(uuid.UUID(str(import_id)), session_scope=self.scope, message=message)


@app.task(name=IMPORT_TASK, base=ImportTask, bind=True, acks_late=True)
def import_library(self: ImportTask, import_id: str) -> None:
    """Run or resume a library import (idempotent: a rerun resumes after the last committed chunk)."""
    library_import_service.run(
        uuid.UUID(import_id),
        session_scope=session_scope,
        storage=get_storage(),
        tmp_dir=settings.tmp_dir,
        cfg=settings,
        chunk_size=settings.import_chunk_size,
    )
