from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, func, insert, or_, select, union_all
from sqlalchemy.orm import Session

from service.analysis_run.models import (
    AnalysisEvent,
    AnalysisRun,
    AnalysisStatus,
    FailureKind,
    FrameData,
    FrameManifest,
)
from service.db import bulk_insert
from service.track.models import Track

EventRow = Row[uuid.UUID, str, float, float | None, float | None, float | None, str | None, dict[str, Any] | None]


class AnalysisRunRepository:
    def get(self, session: Session, analysis_id: uuid.UUID, *, for_update: bool = False) -> AnalysisRun | None:
        stmt = select(AnalysisRun).where(AnalysisRun.id == analysis_id)
        if for_update:
            stmt = stmt.with_for_update()
        return session.scalars(stmt).one_or_none()

    def add_many(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            session.execute(insert(AnalysisRun), list(rows))

    def latest_for_track(self, session: Session, *, track_id: uuid.UUID, user_id: uuid.UUID) -> AnalysisRun | None:
        stmt = (
            select(AnalysisRun)
            .where(AnalysisRun.track_id == track_id, AnalysisRun.user_id == user_id)
            .order_by(AnalysisRun.created_at.desc(), AnalysisRun.id.desc())
            .limit(1)
        )
        return session.scalars(stmt).one_or_none()

    def latest_succeeded_for_track(
        self, session: Session, *, track_id: uuid.UUID, user_id: uuid.UUID
    ) -> AnalysisRun | None:
        """The newest finished analysis: what analysis data is read from while a re-analysis is queued or running."""
        stmt = (
            select(AnalysisRun)
            .where(
                AnalysisRun.track_id == track_id,
                AnalysisRun.user_id == user_id,
                AnalysisRun.status == AnalysisStatus.succeeded,
            )
            .order_by(AnalysisRun.completed_at.desc(), AnalysisRun.created_at.desc(), AnalysisRun.id.desc())
            .limit(1)
        )
        return session.scalars(stmt).one_or_none()

    def latest_status_is(self, status: str) -> ColumnElement[bool]:
        """A condition on :class:`Track` rows: the track's latest analysis has ``status``.

        For the track repository's library queries, which filter on it without reading this table themselves.
        """
        latest_status = (
            select(AnalysisRun.status)
            .where(AnalysisRun.track_id == Track.id, AnalysisRun.user_id == Track.user_id)
            .order_by(AnalysisRun.created_at.desc(), AnalysisRun.id.desc())
            .limit(1)
            .correlate(Track)
            .scalar_subquery()
        )
        return latest_status == status

    def latest_for_tracks(
        self, session: Session, *, track_ids: list[uuid.UUID], user_id: uuid.UUID
    ) -> dict[uuid.UUID, AnalysisRun]:
        if not track_ids:
            return {}
        stmt = (
            select(AnalysisRun)
            .where(AnalysisRun.track_id.in_(track_ids), AnalysisRun.user_id == user_id)
            .order_by(AnalysisRun.created_at, AnalysisRun.id)
        )
        latest: dict[uuid.UUID, AnalysisRun] = {}
        for run in session.scalars(stmt):
            latest[run.track_id] = run
        return latest

    def list_unfinished(self, session: Session) -> Sequence[Row[uuid.UUID, str]]:
        """Every analysis still queued or running, as (id, queue)."""
        stmt = select(AnalysisRun.id, AnalysisRun.queue).where(AnalysisRun.status.in_(AnalysisStatus.active()))
        return session.execute(stmt).all()

    def claim_stuck(
        self,
        session: Session,
        *,
        running_before: datetime,
        queued_before: datetime,
        transient_failed_before: datetime,
        transient_created_after: datetime,
        limit: int,
    ) -> list[AnalysisRun]:
        """Lock up to ``limit`` stuck analyses, oldest first, skipping rows another transaction holds.

        Stuck: running or queued since before the given times, or failed for an outage (``transient``) before
        ``transient_failed_before`` while created after ``transient_created_after``.
        """
        handed_out_at = func.coalesce(AnalysisRun.started_at, AnalysisRun.created_at)
        stmt = (
            select(AnalysisRun)
            .where(
                or_(
                    and_(AnalysisRun.status == AnalysisStatus.running, handed_out_at < running_before),
                    and_(AnalysisRun.status == AnalysisStatus.queued, handed_out_at < queued_before),
                    and_(
                        AnalysisRun.status == AnalysisStatus.failed,
                        AnalysisRun.failure_kind == FailureKind.transient,
                        AnalysisRun.completed_at < transient_failed_before,
                        AnalysisRun.created_at > transient_created_after,
                    ),
                )
            )
            .order_by(AnalysisRun.created_at, AnalysisRun.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(session.scalars(stmt))

    def add_outputs(
        self,
        session: Session,
        *,
        manifests: Sequence[dict[str, Any]],
        chunks: Sequence[dict[str, Any]],
        events: Sequence[dict[str, Any]],
    ) -> None:
        """An analysis' frame manifests, their chunks and its events, each in one bulk statement."""
        bulk_insert(session, FrameManifest, manifests)
        bulk_insert(session, FrameData, chunks)
        bulk_insert(session, AnalysisEvent, events)

    def clear_outputs(self, session: Session, *, analysis_id: uuid.UUID) -> None:
        """Remove what an earlier attempt of the same analysis wrote, so a rerun leaves one result."""
        session.execute(delete(AnalysisEvent).where(AnalysisEvent.analysis_id == analysis_id))
        session.execute(delete(FrameManifest).where(FrameManifest.analysis_id == analysis_id))

    def get_for_track(
        self, session: Session, *, analysis_id: uuid.UUID, track_id: uuid.UUID, user_id: uuid.UUID
    ) -> AnalysisRun | None:
        stmt = select(AnalysisRun).where(
            AnalysisRun.id == analysis_id, AnalysisRun.track_id == track_id, AnalysisRun.user_id == user_id
        )
        return session.scalars(stmt).one_or_none()

    def list_for_track(
        self, session: Session, *, track_id: uuid.UUID, user_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[AnalysisRun], int]:
        """A track's analyses, newest first."""
        base = select(AnalysisRun).where(AnalysisRun.track_id == track_id, AnalysisRun.user_id == user_id)
        count = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        stmt = base.order_by(AnalysisRun.created_at.desc(), AnalysisRun.id.desc()).limit(limit).offset(offset)
        return list(session.scalars(stmt)), count

    def active_for_track(self, session: Session, *, track_id: uuid.UUID, user_id: uuid.UUID) -> AnalysisRun | None:
        """The newest queued or running analysis of a track."""
        stmt = (
            select(AnalysisRun)
            .where(
                AnalysisRun.track_id == track_id,
                AnalysisRun.user_id == user_id,
                AnalysisRun.status.in_(AnalysisStatus.active()),
            )
            .order_by(AnalysisRun.created_at.desc(), AnalysisRun.id.desc())
            .limit(1)
        )
        return session.scalars(stmt).one_or_none()

    def lock_track(self, session: Session, *, track_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        """Lock the track row until the transaction ends, so two requests cannot both queue an analysis.

        SQLite has no row locks; there the write transaction the session opens (``BEGIN IMMEDIATE``) already
        serialises writers.
        """
        stmt = select(Track.id).where(Track.id == track_id, Track.user_id == user_id).with_for_update()
        return session.scalar(stmt) is not None

    def manifests(self, session: Session, *, analysis_id: uuid.UUID, user_id: uuid.UUID) -> list[FrameManifest]:
        """The feature series of an analysis, in the order the analysis wrote them."""
        stmt = (
            select(FrameManifest)
            .where(FrameManifest.analysis_id == analysis_id, FrameManifest.user_id == user_id)
            .order_by(FrameManifest.sort_order, FrameManifest.created_at, FrameManifest.feature)
        )
        return list(session.scalars(stmt))

    def feature_names(self, session: Session, *, analysis_id: uuid.UUID, user_id: uuid.UUID) -> list[str]:
        stmt = (
            select(FrameManifest.feature)
            .where(FrameManifest.analysis_id == analysis_id, FrameManifest.user_id == user_id)
            .order_by(FrameManifest.feature)
        )
        return list(session.scalars(stmt))

    def manifest(
        self, session: Session, *, analysis_id: uuid.UUID, user_id: uuid.UUID, feature: str
    ) -> FrameManifest | None:
        stmt = select(FrameManifest).where(
            FrameManifest.analysis_id == analysis_id,
            FrameManifest.user_id == user_id,
            FrameManifest.feature == feature,
        )
        return session.scalars(stmt).one_or_none()

    def chunks(
        self, session: Session, *, manifest_id: uuid.UUID, user_id: uuid.UUID, first: int, last: int
    ) -> Sequence[Row[int, bytes]]:
        """``(start_frame, data)`` of chunks ``first`` to ``last`` (both included) only, in order."""
        stmt = (
            select(FrameData.start_frame, FrameData.data)
            .where(
                FrameData.manifest_id == manifest_id,
                FrameData.user_id == user_id,
                FrameData.chunk_index >= first,
                FrameData.chunk_index <= last,
            )
            .order_by(FrameData.chunk_index)
        )
        return session.execute(stmt).all()

    def series(
        self, session: Session, *, analysis_id: uuid.UUID, user_id: uuid.UUID, features: Collection[str]
    ) -> list[tuple[FrameManifest, list[Row[uuid.UUID, bytes]]]]:
        """The manifests of ``features`` by name, each with ``(manifest_id, data)`` of all its chunks in order."""
        if not features:
            return []
        manifests = list(
            session.scalars(
                select(FrameManifest)
                .where(
                    FrameManifest.analysis_id == analysis_id,
                    FrameManifest.user_id == user_id,
                    FrameManifest.feature.in_(sorted(features)),
                )
                .order_by(FrameManifest.feature)
            )
        )
        if not manifests:
            return []
        chunks: dict[uuid.UUID, list[Row[uuid.UUID, bytes]]] = {m.id: [] for m in manifests}
        stmt = (
            select(FrameData.manifest_id, FrameData.data)
            .where(FrameData.manifest_id.in_(list(chunks)), FrameData.user_id == user_id)
            .order_by(FrameData.manifest_id, FrameData.chunk_index)
        )
        for chunk in session.execute(stmt):
            chunks[chunk.manifest_id].append(chunk)
        return [(m, chunks[m.id]) for m in manifests]

    def event_times(
        self, session: Session, *, analysis_id: uuid.UUID, user_id: uuid.UUID, event_type: str
    ) -> list[float]:
        stmt = (
            select(AnalysisEvent.time_seconds)
            .where(
                AnalysisEvent.analysis_id == analysis_id,
                AnalysisEvent.user_id == user_id,
                AnalysisEvent.event_type == event_type,
            )
            .order_by(AnalysisEvent.time_seconds)
        )
        return list(session.scalars(stmt))

    def events(
        self,
        session: Session,
        *,
        analysis_id: uuid.UUID,
        user_id: uuid.UUID,
        types: Sequence[str],
        start: float | None,
        end: float | None,
        span_types: Sequence[str] = ("section",),
    ) -> list[EventRow]:
        """Events of ``types`` that overlap ``[start, end)``, by time, then type, then id; every one from the
        beginning when ``start`` is ``None``.

        An instant event overlaps when its time is in the window; a span (one of ``span_types``, the only types
        with a duration) also when it began earlier and is still running at ``start``. Each type is its own
        branch of a UNION ALL so every branch is a range scan of the (analysis, type, time) index: with an IN
        list, SQLite without statistics scans all of the user's events instead. Rows, not ORM objects: a window
        holds hundreds of events, and the identity map would cost more than the query.
        """
        columns = (
            AnalysisEvent.id,
            AnalysisEvent.event_type,
            AnalysisEvent.time_seconds,
            AnalysisEvent.duration_seconds,
            AnalysisEvent.value,
            AnalysisEvent.confidence,
            AnalysisEvent.label,
            AnalysisEvent.payload,
        )
        branches = []
        for event_type in types:
            owned = (
                AnalysisEvent.analysis_id == analysis_id,
                AnalysisEvent.user_id == user_id,
                AnalysisEvent.event_type == event_type,
            )
            inside = select(*columns).where(*owned)
            if start is not None:
                inside = inside.where(AnalysisEvent.time_seconds >= start)
            if end is not None:
                inside = inside.where(AnalysisEvent.time_seconds < end)
            branches.append(inside)
            if start is not None and start > 0 and event_type in span_types:
                branches.append(
                    select(*columns).where(
                        *owned,
                        AnalysisEvent.time_seconds < start,
                        AnalysisEvent.time_seconds + AnalysisEvent.duration_seconds > start,
                    )
                )
        if not branches:
            return []
        stmt = branches[0] if len(branches) == 1 else union_all(*branches)
        ordered = stmt.order_by(*(stmt.selected_columns[name] for name in ("time_seconds", "event_type", "id")))
        return list(session.execute(ordered))


analysis_run_repository = AnalysisRunRepository()
