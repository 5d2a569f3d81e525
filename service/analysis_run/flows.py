"""Analysis of one track, end to end: fetch the original, decode, analyse, store peaks, persist.

The worker task calls :func:`run_analysis`; everything that can go wrong in between is handled here. Audio
that cannot be decoded or analysed is a permanent failure recorded on the analysis; storage and database
errors propagate so the task can retry them.

A finished analysis records in its ``parameters`` where its time went: ``timings_s`` holds the wall time of
each phase (download, decode, analyse, store, database) and ``worker`` names the process (``host/pid``). The
database phase runs up to the final commit, which it cannot include since it is written in that transaction.
"""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analysis import TrackAnalysis

from service.analysis_run.models import AnalysisStatus, FailureKind
from service.analysis_run.service import analysis_run as analysis_run_service
from service.db import SessionScope
from service.storage import Storage, thumbnail_key, waveform_key
from service.track.service import track as track_service

log = logging.getLogger(__name__)


def run_analysis(analysis_id: uuid.UUID, *, session_scope: SessionScope, storage: Storage, tmp_dir: Path) -> str:
    """Run one analysis; returns its final state ("succeeded", "failed" or "skipped")."""
    from analysis import ANALYZER_VERSION, analyze
    from analysis.errors import AnalysisError
    from analysis.io import load

    with session_scope() as session:
        job = analysis_run_service.start(session, analysis_id=analysis_id)
    if job is None:
        log.info("track.analysis.skipped", extra={"analysis_id": str(analysis_id)})
        return "skipped"

    tmp_dir.mkdir(parents=True, exist_ok=True)
    suffix = "." + (job.file_format or "bin")
    timings = _Timings()
    with tempfile.NamedTemporaryFile(dir=tmp_dir, prefix="analysis-", suffix=suffix) as tmp:
        try:
            storage.get_to_path(job.original_key, Path(tmp.name))
        except FileNotFoundError:
            return _fail(session_scope, analysis_id, "the original audio file is missing from storage")
        timings.lap("download")
        try:
            decoded = load(Path(tmp.name))
            timings.lap("decode")
            result = analyze(decoded.samples, sr=decoded.sr)
            timings.lap("analyse")
        except AnalysisError as exc:
            return _fail(session_scope, analysis_id, f"could not analyse audio: {exc}")
        except MemoryError:
            return _fail(session_scope, analysis_id, "the file is too large to analyse on this worker")

    stored = _store_overviews(storage, result, user_id=job.user_id, track_id=job.track_id, analysis_id=analysis_id)
    timings.lap("store")
    with session_scope() as session:
        run = analysis_run_service.complete(
            session,
            analysis_id=analysis_id,
            result=result,
            info=decoded.info,
            analyzer_version=ANALYZER_VERSION,
        )
        if run is not None:
            track_service.record_analysis(
                session,
                track_id=run.track_id,
                result=result,
                info=decoded.info,
                waveform_key=stored[0],
                thumbnail_key=stored[-1],
            )
            timings.lap("database")
            # A new dict, so the JSON column is marked changed; it commits with the results.
            run.parameters = {**run.parameters, **timings.record()}
    if run is None:
        # The track was deleted while we worked; its objects are gone, and ours must not linger.
        for key in stored:
            storage.delete(key)
        log.info("track.analysis.orphaned", extra={"analysis_id": str(analysis_id)})
        return "skipped"
    log.info("track.analysis.succeeded", extra={"analysis_id": str(analysis_id)})
    return AnalysisStatus.succeeded


class _Timings:
    """Wall time of consecutive phases, each measured from the end of the previous one."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._mark = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = round(now - self._mark, 6)
        self._mark = now

    def record(self) -> dict[str, Any]:
        return {"timings_s": dict(self.seconds), "worker": f"{socket.gethostname()}/{os.getpid()}"}


def _store_overviews(
    storage: Storage, result: TrackAnalysis, *, user_id: uuid.UUID, track_id: uuid.UUID, analysis_id: uuid.UUID
) -> list[str]:
    """Store every waveform zoom level (finest first) and the PNG thumbnail; return their keys, thumbnail last."""
    keys = []
    for level, peaks in enumerate(result.waveforms):
        spp = None if level == 0 else peaks.samples_per_pixel
        key = waveform_key(user_id, track_id, analysis_id, samples_per_pixel=spp)
        storage.put_bytes(key, peaks.to_dat(), content_type="application/octet-stream")
        keys.append(key)
    thumbnail = thumbnail_key(user_id, track_id, analysis_id)
    storage.put_bytes(thumbnail, result.thumbnail_png, content_type="image/png")
    keys.append(thumbnail)
    return keys


def _fail(
    session_scope: SessionScope, analysis_id: uuid.UUID, message: str, kind: FailureKind = FailureKind.permanent
) -> str:
    with session_scope() as session:
        analysis_run_service.fail(session, analysis_id=analysis_id, message=message, kind=kind)
    log.warning("track.analysis.failed", extra={"analysis_id": str(analysis_id), "reason": message, "kind": kind})
    return AnalysisStatus.failed


def mark_failed(analysis_id: uuid.UUID, *, session_scope: SessionScope, message: str, kind: FailureKind) -> None:
    """Record the end of an analysis whose task failed (called from the task's failure hook)."""
    _fail(session_scope, analysis_id, message, kind)


def mark_retrying(analysis_id: uuid.UUID, *, session_scope: SessionScope, message: str) -> None:
    """Record that an attempt met an outage and the task will run again (called from the task's retry hook)."""
    with session_scope() as session:
        analysis_run_service.retrying(session, analysis_id=analysis_id, message=message)
