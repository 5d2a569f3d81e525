from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from service.analysis_run import frames
from service.analysis_run.frames import DEFAULT_CHUNK_FRAMES, dtype_for, encode_chunks
from service.analysis_run.models import (
    AnalysisRun,
    AnalysisStatus,
    FailureKind,
    FrameManifest,
)
from service.analysis_run.repository import EventRow, analysis_run_repository
from service.analysis_run.waveform import Waveform, ZoomPlan, parse_dat, plan_pixels, plan_zoom
from service.config import settings
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound
from service.outbox.service import outbox as outbox_service
from service.queue import ANALYSIS_QUEUE, ANALYZE_TASK, BULK_QUEUE, enqueue, enqueue_many
from service.storage import Storage, legacy_overview_key, thumbnail_key, waveform_key
from service.track.models import Track
from service.track.repository import track_repository

if TYPE_CHECKING:
    from analysis import AudioInfo, TrackAnalysis

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
        "status": AnalysisStatus.queued,
        "queue": queue,
        "parameters": parameters or {},
        "attempts": 0,
    }


@dataclass(frozen=True, slots=True)
class FeatureSlice:
    """A window of one stored feature: its frames from ``first`` on, decimated."""

    manifest: FrameManifest
    first: int
    decimated: frames.Decimated


@dataclass(frozen=True, slots=True)
class StoredSeries:
    """The whole of one stored feature: ``(n_frames, dims)`` values, one frame every ``hop_s`` seconds."""

    feature: str
    hop_s: float
    values: npt.NDArray[np.float32]


class AnalysisRunService:
    """Analyses of tracks and everything they stored: frames, events and waveform overviews.

    Every other domain reads analysis output through here; the tables behind it are this package's own.
    """

    def queue(
        self,
        session: Session,
        *,
        track: Track,
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

    def latest(self, session: Session, *, track: Track) -> AnalysisRun | None:
        """The track's newest analysis, whatever its status (``None`` before the first is queued)."""
        return analysis_run_repository.latest_for_track(session, track_id=track.id, user_id=track.user_id)

    def latest_of_tracks(self, session: Session, *, tracks: Sequence[Track]) -> dict[uuid.UUID, AnalysisRun]:
        """:meth:`latest` of each track that has an analysis, by track id, with one query per owner."""
        owners: dict[uuid.UUID, list[uuid.UUID]] = {}
        for track in tracks:
            owners.setdefault(track.user_id, []).append(track.id)
        latest: dict[uuid.UUID, AnalysisRun] = {}
        for owner_id, track_ids in owners.items():
            latest.update(analysis_run_repository.latest_for_tracks(session, track_ids=track_ids, user_id=owner_id))
        return latest

    def latest_status_is(self, status: str) -> ColumnElement[bool]:
        """The library's condition that a track's latest analysis has ``status`` (see the track repository)."""
        return analysis_run_repository.latest_status_is(status)

    def reanalyze(self, session: Session, *, track_id: uuid.UUID, user_id: uuid.UUID) -> AnalysisRun:
        """Queue a full re-analysis of a track; ``Conflict`` while one is already queued or running."""
        track = track_repository.get_or_404(session, user_id=user_id, track_id=track_id)
        analysis_run_repository.lock_track(session, track_id=track.id, user_id=user_id)
        active = analysis_run_repository.active_for_track(session, track_id=track.id, user_id=user_id)
        if active is not None:
            raise Conflict(f"an analysis of this track is already {active.status}", analysis_id=str(active.id))
        return self.queue(session, track=track)

    def list_for_track(
        self, session: Session, *, track_id: uuid.UUID, user_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[AnalysisRun], int]:
        """A track's analyses, newest first, and how many it has; 404 for a track that is not the user's."""
        track_repository.get_or_404(session, user_id=user_id, track_id=track_id)
        return analysis_run_repository.list_for_track(
            session, track_id=track_id, user_id=user_id, limit=limit, offset=offset
        )

    def latest_succeeded(self, session: Session, *, track_id: uuid.UUID, user_id: uuid.UUID) -> AnalysisRun | None:
        """The newest finished analysis: what analysis data is read from while a re-analysis is queued or running."""
        return analysis_run_repository.latest_succeeded_for_track(session, track_id=track_id, user_id=user_id)

    def get_succeeded(
        self, session: Session, *, track_id: uuid.UUID, user_id: uuid.UUID, analysis_id: uuid.UUID | None
    ) -> AnalysisRun:
        """The analysis whose data a request reads: the named one, or the latest succeeded. 404 otherwise."""
        if analysis_id is None:
            run = self.latest_succeeded(session, track_id=track_id, user_id=user_id)
            if run is None:
                track_repository.get_or_404(session, user_id=user_id, track_id=track_id)
                raise NotFound("the track has no succeeded analysis yet")
            return run
        run = analysis_run_repository.get_for_track(
            session, analysis_id=analysis_id, track_id=track_id, user_id=user_id
        )
        if run is None:
            track_repository.get_or_404(session, user_id=user_id, track_id=track_id)
            raise NotFound("analysis not found for this track", field="analysis_id")
        if run.status != AnalysisStatus.succeeded:
            raise NotFound(
                f"analysis {run.id} is {run.status}: only a succeeded analysis has data", field="analysis_id"
            )
        return run

    def get_overview_source(
        self, session: Session, *, track_id: uuid.UUID, user_id: uuid.UUID, analysis_id: uuid.UUID | None
    ) -> tuple[AnalysisRun, bool]:
        """Like :meth:`get_succeeded`, for the waveform files, with whether the track's own files may stand in.

        Each analysis stores its own overviews. Analyses stored before that kept one set per track, which is the
        latest analysis's, so it stands in only when the analysis read is the track's latest.
        """
        run = self.get_succeeded(session, track_id=track_id, user_id=user_id, analysis_id=analysis_id)
        if analysis_id is None:
            return run, True
        latest = self.latest_succeeded(session, track_id=track_id, user_id=user_id)
        return run, latest is not None and latest.id == run.id

    # The outputs of one analysis, which the caller found with one of the methods above.

    def features(self, session: Session, *, run: AnalysisRun) -> list[FrameManifest]:
        """The feature series of an analysis, in the order the analysis wrote them."""
        return analysis_run_repository.manifests(session, analysis_id=run.id, user_id=run.user_id)

    def feature_window(
        self,
        session: Session,
        *,
        run: AnalysisRun,
        feature: str,
        start: float,
        end: float | None,
        max_points: int,
        reduce: str,
    ) -> FeatureSlice:
        """Frames of one feature in ``[start, end)``, read from the chunks that overlap it only, then decimated."""
        manifest = analysis_run_repository.manifest(session, analysis_id=run.id, user_id=run.user_id, feature=feature)
        if manifest is None:
            available = analysis_run_repository.feature_names(session, analysis_id=run.id, user_id=run.user_id)
            raise NotFound(f"feature {feature!r} not found", field="feature", available=available)
        check_start(start, track_duration(run))
        first, stop = frames.frame_range(
            start_s=start, end_s=end, frame_rate=manifest.frame_rate, n_frames=manifest.n_frames
        )
        span = frames.chunk_range(first, stop, chunk_frames=manifest.chunk_frames)
        rows = (
            analysis_run_repository.chunks(
                session, manifest_id=manifest.id, user_id=run.user_id, first=span[0], last=span[1]
            )
            if span
            else []
        )
        values = frames.assemble(
            ((row.start_frame, row.data) for row in rows),
            first=first,
            stop=stop,
            dtype=manifest.dtype,
            dims=manifest.dimensions,
        )
        return FeatureSlice(manifest, first, frames.decimate(values, max_points=max_points, reduce=reduce))

    def feature_series(self, session: Session, *, run: AnalysisRun, features: Collection[str]) -> list[StoredSeries]:
        """The whole of each of ``features`` that the analysis stored, by name; a feature without chunks is left out."""
        series = []
        for manifest, chunks in analysis_run_repository.series(
            session, analysis_id=run.id, user_id=run.user_id, features=features
        ):
            if not chunks:
                continue
            values = np.concatenate(
                [frames.decode_chunk(c.data, dtype=manifest.dtype, dims=manifest.dimensions) for c in chunks]
            )[: manifest.n_frames]
            series.append(StoredSeries(feature=manifest.feature, hop_s=manifest.hop_seconds, values=values))
        return series

    def events(
        self,
        session: Session,
        *,
        run: AnalysisRun,
        types: Sequence[str],
        start: float | None = None,
        end: float | None = None,
    ) -> list[EventRow]:
        """Events of ``types`` overlapping ``[start, end)`` (every one without a window), by time, type and id.

        A section still running at ``start`` counts.
        """
        return analysis_run_repository.events(
            session, analysis_id=run.id, user_id=run.user_id, types=types, start=start, end=end
        )

    def event_times(self, session: Session, *, run: AnalysisRun, event_type: str) -> list[float]:
        """The times of every event of one type, in order: the beat or bar grid to snap to."""
        return analysis_run_repository.event_times(
            session, analysis_id=run.id, user_id=run.user_id, event_type=event_type
        )

    def waveform(
        self,
        storage: Storage,
        *,
        run: AnalysisRun,
        legacy: bool,
        zoom: int | None,
        pixels: int | None,
        start: float,
        end: float | None,
        channels: int | None,
        bits: int,
    ) -> tuple[Waveform, int]:
        """The peaks covering ``[start, end)`` at ``zoom`` (or sized to ``pixels``), and the index of the first.

        Read from the stored level that serves the zoom; 422 for a zoom none serves.
        """
        levels = waveform_levels(run)
        plan = _waveform_plan(run, levels, zoom=zoom, pixels=pixels, start=start, end=end)
        level = None if plan.level == levels[0] else plan.level
        key = waveform_key(run.user_id, run.track_id, run.id, samples_per_pixel=level)
        stored = parse_dat(_read_overview(storage, key, legacy=legacy, missing="the waveform is not stored"))
        if channels is not None and channels not in (1, stored.channels):
            raise InvalidInput(f"channels must be 1 (merged) or {stored.channels}", field="channels")
        check_start(start, track_duration(run) or stored.duration_seconds)
        peaks, first = stored.window(factor=plan.factor, start_s=start, end_s=end)
        if channels == 1:
            peaks = peaks.merge_channels()
        return peaks.to_bits(bits), first

    def thumbnail(self, storage: Storage, *, run: AnalysisRun, legacy: bool) -> bytes:
        """The PNG thumbnail of the whole waveform."""
        key = thumbnail_key(run.user_id, run.track_id, run.id)
        return _read_overview(storage, key, legacy=legacy, missing="the waveform thumbnail is not stored")

    def start(self, session: Session, *, analysis_id: uuid.UUID) -> AnalysisJob | None:
        """Claim an analysis for this attempt. ``None`` when it no longer exists or already finished."""
        run = analysis_run_repository.get(session, analysis_id, for_update=True)
        if run is None or run.status in (AnalysisStatus.succeeded, AnalysisStatus.failed):
            return None
        track = session.get(Track, run.track_id)
        if track is None:
            return None
        if run.status == AnalysisStatus.running:
            # The previous attempt never ended (an attempt that meets an outage puts the analysis back to
            # "queued"): its worker died and the broker delivered the message again.
            run.lost_attempts += 1
        if run.lost_attempts > settings.task_max_retries:
            # A file that kills the worker would otherwise loop forever.
            self.fail(
                session,
                analysis_id=run.id,
                message=f"the worker stopped during each of {run.lost_attempts} attempts",
                kind=FailureKind.permanent,
            )
            return None
        run.status = AnalysisStatus.running
        run.attempts += 1
        run.started_at = utcnow()
        run.error_message = None
        session.flush()
        return AnalysisJob(
            analysis_id=run.id,
            track_id=track.id,
            user_id=track.user_id,
            original_key=track.storage_key,
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
        track = session.get(Track, run.track_id)
        if track is None:
            return None
        already_succeeded = run.status == AnalysisStatus.succeeded
        analysis_run_repository.clear_outputs(session, analysis_id=run.id)
        manifests, chunks = self._frame_rows(run=run, result=result)
        analysis_run_repository.add_outputs(
            session, manifests=manifests, chunks=chunks, events=self._event_rows(run=run, result=result)
        )

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
        run.status = AnalysisStatus.succeeded
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
        if run is None or run.status != AnalysisStatus.running:
            return None
        run.status = AnalysisStatus.queued
        run.error_message = message[:_MAX_ERROR_CHARS]
        session.flush()
        return run

    def fail(
        self, session: Session, *, analysis_id: uuid.UUID, message: str, kind: FailureKind = FailureKind.permanent
    ) -> AnalysisRun | None:
        """Fail an analysis for good (``permanent``) or until the reaper sends it again (``transient``)."""
        run = analysis_run_repository.get(session, analysis_id, for_update=True)
        if run is None or run.status == AnalysisStatus.succeeded:
            return None
        run.status = AnalysisStatus.failed
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

    def _frame_rows(
        self, *, run: AnalysisRun, result: TrackAnalysis
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every feature's manifest, and every chunk of every feature, as rows for two multi-row INSERTs.

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
        return manifests, chunk_rows

    def _event_rows(self, *, run: AnalysisRun, result: TrackAnalysis) -> list[dict[str, Any]]:
        # Read once: an ORM attribute read per event row costs more than building the row.
        owner = {"analysis_id": run.id, "track_id": run.track_id, "user_id": run.user_id}
        return [
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


def track_duration(run: AnalysisRun) -> float | None:
    """The duration the analysis measured, in seconds; ``None`` when it has none."""
    duration = (run.results or {}).get("duration_s")
    return float(duration) if isinstance(duration, int | float) and math.isfinite(duration) else None


def check_start(start: float, duration: float | None) -> None:
    if duration is not None and start >= duration:
        raise InvalidInput(f"start is past the end of the track ({duration:.3f} s)", field="start")


def waveform_levels(run: AnalysisRun) -> list[int]:
    """Stored zoom levels in samples per pixel, finest first (the order the analysis stored them in)."""
    summary = (run.results or {}).get("waveform") or {}
    levels = summary.get("samples_per_pixel") or []
    return [int(level) for level in levels]


def _waveform_plan(
    run: AnalysisRun, levels: list[int], *, zoom: int | None, pixels: int | None, start: float, end: float | None
) -> ZoomPlan:
    """The stored level and factor that serve ``zoom``, or that size the window to ``pixels``; 422 otherwise."""
    if pixels is not None:
        duration = track_duration(run)
        sample_rate = (run.results or {}).get("sample_rate")
        if duration is None or not isinstance(sample_rate, int) or sample_rate <= 0:
            return ZoomPlan(level=min(levels), factor=1)
        window_s = max(0.0, min(end if end is not None else duration, duration) - start)
        return plan_pixels(levels, samples=window_s * sample_rate, pixels=pixels)
    plan = plan_zoom(levels, zoom)
    if plan is None:
        stored = ", ".join(str(level) for level in sorted(set(levels)))
        if zoom is not None and zoom < min(levels):
            message = f"zoom must be at least {min(levels)} samples per pixel, the finest stored"
        else:
            message = f"zoom {zoom} is not served: it must be a multiple of a stored level ({stored})"
        raise InvalidInput(message, field="zoom")
    return plan


def _read_overview(storage: Storage, key: str, *, legacy: bool, missing: str) -> bytes:
    """An analysis' overview file; with ``legacy``, the track's own where the analysis has none."""
    for candidate in (key, legacy_overview_key(key)) if legacy else (key,):
        try:
            return storage.get_bytes(candidate)
        except FileNotFoundError:
            continue
    raise NotFound(missing)


analysis_run = AnalysisRunService()
