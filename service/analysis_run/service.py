from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.orm import Session

from service.analysis_run.frames import DEFAULT_CHUNK_FRAMES, dtype_for, encode_chunks
from service.analysis_run.models import AnalysisEvent, AnalysisRun, FrameData, FrameManifest
from service.analysis_run.repository import analysis_run_repository
from service.config import settings
from service.db import bulk_insert, utcnow
from service.outbox.service import outbox as outbox_service
from service.queue import ANALYSIS_QUEUE, BULK_QUEUE, enqueue, enqueue_many
from service.track.models import ReferenceTrack

if TYPE_CHECKING:
    from analysis import AudioInfo, TrackAnalysis

ANALYZE_TASK = "track.analyze"
FailureKind = Literal["transient", "permanent"]
_MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class AnalysisJob:
    """What a worker needs to run an analysis, read in a short transaction before the long computation."""

    analysis_id: uuid.UUID
    track_id: uuid.UUID
    user_id: uuid.UUID
    original_key: str
    file_format: str | None
    attempt: int


def _queued(
    track_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    queue: str,
    analysis_type: str = "full",
    parameters: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The columns of a queued analysis, for the ORM object and for a bulk insert alike."""
    return {
        "track_id": track_id,
        "user_id": user_id,
        "analysis_type": analysis_type,
        "status": "queued",
        "queue": queue,
        "parameters": parameters or {},
        "attempts": 0,
    }


class AnalysisRunService:
    def queue(
        self,
        session: Session,
        *,
        track: ReferenceTrack,
        analysis_type: str = "full",
        parameters: dict[str, Any] | None = None,
        queue: str = ANALYSIS_QUEUE,
    ) -> AnalysisRun:
        run = AnalysisRun(
            **_queued(track.id, track.user_id, queue=queue, analysis_type=analysis_type, parameters=parameters)
        )
        session.add(run)
        session.flush()
        enqueue(session, ANALYZE_TASK, str(run.id), queue=queue)
        return run

    def requeue_unfinished(self, session: Session) -> int:
        """Send again every analysis left queued or running (the task is idempotent); return how many."""
        unfinished = analysis_run_repository.list_unfinished(session)
        for analysis_id, queue in unfinished:
            enqueue(session, ANALYZE_TASK, str(analysis_id), queue=queue)
        return len(unfinished)

    def queue_many(
        self,
        session: Session,
        *,
        tracks: Sequence[tuple[uuid.UUID, uuid.UUID]],
        queue: str = BULK_QUEUE,
        sent: set[uuid.UUID] | None = None,
    ) -> list[uuid.UUID]:
        """Queue a full analysis of each ``(track_id, user_id)`` with one bulk insert; returns the analyses' ids.

        Their tasks go to the broker over one connection once the session commits; see ``enqueue_many`` for
        ``sent``.
        """
        rows = [{"id": uuid.uuid4(), **_queued(track_id, user_id, queue=queue)} for track_id, user_id in tracks]
        analysis_run_repository.add_many(session, rows)
        ids = [row["id"] for row in rows]
        enqueue_many(session, ANALYZE_TASK, ids, queue=queue, sent=sent)
        return ids

    def start(self, session: Session, *, analysis_id: uuid.UUID) -> AnalysisJob | None:
        """Claim an analysis for this attempt. ``None`` when it no longer exists or already finished."""
        run = analysis_run_repository.get(session, analysis_id, for_update=True)
        if run is None or run.status in ("succeeded", "failed"):
            return None
        track = session.get(ReferenceTrack, run.track_id)
        if track is None:
            return None
        if run.status == "running":
            # The previous attempt never ended (an attempt that meets an outage puts the analysis back to
            # "queued"): its worker died and the broker delivered the message again.
            run.lost_attempts += 1
        if run.lost_attempts > settings.task_max_retries:
            # A file that kills the worker would otherwise loop forever.
            self.fail(
                session,
                analysis_id=run.id,
                message=f"the worker stopped during each of {run.lost_attempts} attempts",
                kind="permanent",
            )
            return None
        run.status = "running"
        run.attempts += 1
        run.started_at = utcnow()
        run.error_message = None
        session.flush()
        return AnalysisJob(
            analysis_id=run.id,
            track_id=track.id,
            user_id=track.user_id,
            original_key=track.r2_key,
            file_format=track.file_format,
            attempt=run.attempts,
        )

    def complete(
        self,
        session: Session,
        *,
        analysis_id: uuid.UUID,
        result: TrackAnalysis,
        info: AudioInfo,
        analyzer_version: str,
    ) -> AnalysisRun | None:
        """Write every output of a finished analysis in the caller's transaction (the track's summary columns
        are the track service's: :meth:`~service.track.service.TrackService.record_analysis`).

        Returns ``None`` when the analysis (or its track) was deleted meanwhile; the caller then owns the
        clean-up of anything it already stored.
        """
        run = analysis_run_repository.get(session, analysis_id, for_update=True)
        if run is None:
            return None
        track = session.get(ReferenceTrack, run.track_id)
        if track is None:
            return None
        already_succeeded = run.status == "succeeded"
        analysis_run_repository.clear_outputs(session, analysis_id=run.id)
        self._write_frames(session, run=run, result=result)
        self._write_events(session, run=run, result=result)

        summary: dict[str, Any] = dict(result.summary())
        summary["source"] = {
            "format": info.format,
            "codec": info.codec,
            "sample_rate": info.sample_rate,
            "channels": info.channels,
            "bit_depth": info.bit_depth,
            "duration_s": info.duration_s,
        }
        run.results = summary
        run.analyzer_version = analyzer_version
        run.status = "succeeded"
        run.error_message = None
        run.failure_kind = None
        run.completed_at = utcnow()

        if not already_succeeded:  # an overlapping attempt that finishes second announces nothing new
            outbox_service.add(
                session,
                topic="analysis.succeeded",
                payload={"analysis_id": str(run.id), "track_id": str(track.id), "user_id": str(track.user_id)},
            )
        session.flush()
        return run

    def retrying(self, session: Session, *, analysis_id: uuid.UUID, message: str) -> AnalysisRun | None:
        """Record that an attempt met an outage and the analysis waits for its next one."""
        run = analysis_run_repository.get(session, analysis_id, for_update=True)
        if run is None or run.status != "running":
            return None
        run.status = "queued"
        run.error_message = message[:_MAX_ERROR_CHARS]
        session.flush()
        return run

    def fail(
        self, session: Session, *, analysis_id: uuid.UUID, message: str, kind: FailureKind = "permanent"
    ) -> AnalysisRun | None:
        """Fail an analysis for good (``permanent``) or until the reaper sends it again (``transient``)."""
        run = analysis_run_repository.get(session, analysis_id, for_update=True)
        if run is None or run.status == "succeeded":
            return None
        run.status = "failed"
        run.failure_kind = kind
        run.error_message = message[:_MAX_ERROR_CHARS]
        run.completed_at = utcnow()
        outbox_service.add(
            session,
            topic="analysis.failed",
            payload={
                "analysis_id": str(run.id),
                "track_id": str(run.track_id),
                "user_id": str(run.user_id),
                "error": run.error_message,
            },
        )
        session.flush()
        return run

    def _write_frames(self, session: Session, *, run: AnalysisRun, result: TrackAnalysis) -> None:
        """Every feature's manifest, then every chunk of every feature: two multi-row INSERTs in all.

        The ids are made here so no row has to come back from the database before the next is written; ORM
        flushes would cost a round trip per manifest.
        """
        now = utcnow()
        manifests: list[dict[str, Any]] = []
        chunk_rows: list[dict[str, Any]] = []
        for sort_order, series in enumerate(result.features):
            values = series.values if series.values.ndim == 2 else series.values.reshape(-1, 1)
            dtype = dtype_for(values)
            chunks = encode_chunks(values, dtype=dtype, chunk_frames=DEFAULT_CHUNK_FRAMES)
            manifest_id = uuid.uuid4()
            manifests.append(
                {
                    "id": manifest_id,
                    "created_at": now,
                    "analysis_id": run.id,
                    "user_id": run.user_id,
                    "feature": series.name,
                    "unit": series.unit,
                    "description": series.description,
                    "frame_rate": 1.0 / series.hop_s,
                    "hop_seconds": series.hop_s,
                    "n_frames": int(values.shape[0]),
                    "dimensions": int(values.shape[1]),
                    "dtype": dtype,
                    "encoding": f"{dtype}-le",
                    "scale": None,
                    "offset": None,
                    "chunk_frames": DEFAULT_CHUNK_FRAMES,
                    "n_chunks": len(chunks),
                    "sort_order": sort_order,
                }
            )
            chunk_rows.extend(
                {
                    "id": uuid.uuid4(),
                    "manifest_id": manifest_id,
                    "user_id": run.user_id,
                    "chunk_index": c.index,
                    "start_frame": c.start_frame,
                    "n_frames": c.n_frames,
                    "data": c.data,
                }
                for c in chunks
            )
        bulk_insert(session, FrameManifest, manifests)
        bulk_insert(session, FrameData, chunk_rows)

    def _write_events(self, session: Session, *, run: AnalysisRun, result: TrackAnalysis) -> None:
        # Read once: an ORM attribute read per event row costs more than building the row.
        owner = {"analysis_id": run.id, "track_id": run.track_id, "user_id": run.user_id}
        rows = [
            {
                "id": uuid.uuid4(),
                **owner,
                "event_type": e.event_type,
                "time_seconds": float(e.time_s),
                "duration_seconds": None if e.duration_s is None else float(e.duration_s),
                "value": None if e.value is None else float(e.value),
                "confidence": None if not e.payload else e.payload.get("confidence"),
                "label": e.label,
                "payload": e.payload,
            }
            for e in result.events
        ]
        bulk_insert(session, AnalysisEvent, rows)


analysis_run = AnalysisRunService()
