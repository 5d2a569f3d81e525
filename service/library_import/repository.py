from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists, func, insert, select, update
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisRun, AnalysisStatus
from service.library_import.models import ImportStatus, ImportTrack, LibraryImport
from service.track.models import Track

ReanalyzeMode = Literal["stale", "failed", "all"]


def _latest_status() -> ColumnElement[str | None]:
    """Status of the newest analysis of the ``Track`` row in the enclosing query."""
    return (
        select(AnalysisRun.status)
        .where(AnalysisRun.track_id == Track.id)
        .order_by(AnalysisRun.created_at.desc(), AnalysisRun.id.desc())
        .limit(1)
        .correlate(Track)
        .scalar_subquery()
    )


def _latest_succeeded_version() -> ColumnElement[str | None]:
    return (
        select(AnalysisRun.analyzer_version)
        .where(AnalysisRun.track_id == Track.id, AnalysisRun.status == AnalysisStatus.succeeded)
        .order_by(AnalysisRun.completed_at.desc(), AnalysisRun.created_at.desc(), AnalysisRun.id.desc())
        .limit(1)
        .correlate(Track)
        .scalar_subquery()
    )


def _has_run(*statuses: AnalysisStatus) -> ColumnElement[bool]:
    return exists().where(AnalysisRun.track_id == Track.id, AnalysisRun.status.in_(statuses))


class LibraryImportRepository:
    def get(self, session: Session, import_id: uuid.UUID, *, for_update: bool = False) -> LibraryImport | None:
        stmt = select(LibraryImport).where(LibraryImport.id == import_id)
        if for_update:
            stmt = stmt.with_for_update()
        return session.scalars(stmt).one_or_none()

    def get_for_user(self, session: Session, *, user_id: uuid.UUID, import_id: uuid.UUID) -> LibraryImport | None:
        stmt = select(LibraryImport).where(LibraryImport.id == import_id, LibraryImport.user_id == user_id)
        return session.scalars(stmt).one_or_none()

    def list_for_user(
        self, session: Session, *, user_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[LibraryImport], int]:
        """One page of the user's imports, newest first, and how many there are in all."""
        mine = LibraryImport.user_id == user_id
        stmt = (
            select(LibraryImport)
            .where(mine)
            .order_by(LibraryImport.created_at.desc(), LibraryImport.id.desc())
            .limit(limit)
            .offset(offset)
        )
        count = session.scalar(select(func.count()).select_from(LibraryImport).where(mine)) or 0
        return list(session.scalars(stmt)), count

    def unfinished(self, session: Session, *, user_id: uuid.UUID, source: str, origin: str) -> LibraryImport | None:
        """The newest import of ``source`` by ``origin`` that never finished, if any."""
        stmt = (
            select(LibraryImport)
            .where(
                LibraryImport.user_id == user_id,
                LibraryImport.source == source,
                LibraryImport.origin == origin,
                LibraryImport.status.in_((ImportStatus.queued, ImportStatus.running)),
            )
            .order_by(LibraryImport.created_at.desc(), LibraryImport.id.desc())
            .limit(1)
        )
        return session.scalars(stmt).one_or_none()

    def tracks_by_sha(
        self, session: Session, *, user_id: uuid.UUID, shas: Collection[str] | None = None
    ) -> dict[str, uuid.UUID]:
        """Content hash to track id of the user's tracks with these hashes (``None``: the whole library)."""
        stmt = select(Track.content_sha256, Track.id).where(Track.user_id == user_id)
        if shas is not None:
            if not shas:
                return {}
            stmt = stmt.where(Track.content_sha256.in_(sorted(shas)))
        return dict(session.execute(stmt).all())

    def tracks_from(
        self, session: Session, *, user_id: uuid.UUID, url_prefix: str
    ) -> dict[str, tuple[uuid.UUID, str | None]]:
        """Source URL to ``(track id, source ETag)`` of the user's tracks imported from under ``url_prefix``."""
        stmt = select(Track.source_url, Track.id, Track.metadata_).where(
            Track.user_id == user_id, Track.source_url.startswith(url_prefix, autoescape=True)
        )
        return {
            url: (track_id, (metadata or {}).get("source_etag"))
            for url, track_id, metadata in session.execute(stmt)
            if url
        }

    def latest_statuses(self, session: Session, *, track_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The newest analysis status of each track; tracks never analysed are absent."""
        if not track_ids:
            return {}
        stmt = (
            select(AnalysisRun.track_id, AnalysisRun.status)
            .where(AnalysisRun.track_id.in_(sorted(track_ids)))
            .order_by(AnalysisRun.created_at, AnalysisRun.id)
        )
        latest: dict[uuid.UUID, str] = {}
        for track_id, status in session.execute(stmt):
            latest[track_id] = status
        return latest

    def linked(self, session: Session, *, import_id: uuid.UUID, track_ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
        if not track_ids:
            return set()
        stmt = select(ImportTrack.track_id).where(
            ImportTrack.import_id == import_id, ImportTrack.track_id.in_(sorted(track_ids))
        )
        return set(session.scalars(stmt))

    def add_tracks(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            session.execute(insert(Track), list(rows))

    def add_runs(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            session.execute(insert(AnalysisRun), list(rows))

    def add_links(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            session.execute(insert(ImportTrack), list(rows))

    def record_chunk(
        self,
        session: Session,
        *,
        import_id: uuid.UUID,
        imported: int,
        duplicate: int,
        not_audio: int,
        failed: int,
        errors: list[dict[str, str]] | None,
        cursor: str,
        pending: list[str],
        now: datetime,
    ) -> None:
        """Add a committed chunk's outcome to the import's counters in one statement."""
        values: dict[str, Any] = {
            "files_imported": LibraryImport.files_imported + imported,
            "files_duplicate": LibraryImport.files_duplicate + duplicate,
            "files_not_audio": LibraryImport.files_not_audio + not_audio,
            "files_failed": LibraryImport.files_failed + failed,
            "cursor": cursor,
            "pending": pending,
            "heartbeat_at": now,
            "updated_at": now,
        }
        if errors is not None:
            values["errors"] = errors
        session.execute(update(LibraryImport).where(LibraryImport.id == import_id).values(**values))

    def queued_runs(self, session: Session, *, analysis_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
        if not analysis_ids:
            return []
        stmt = select(AnalysisRun.id).where(
            AnalysisRun.id.in_(sorted(analysis_ids)), AnalysisRun.status == AnalysisStatus.queued
        )
        return list(session.scalars(stmt.order_by(AnalysisRun.id)))

    def analysis_counts(self, session: Session, *, import_ids: Collection[uuid.UUID]) -> dict[str, int]:
        """How many of the imports' tracks have each latest analysis status."""
        if not import_ids:
            return {}
        latest = (
            select(_latest_status().label("status"))
            .select_from(ImportTrack)
            .join(Track, Track.id == ImportTrack.track_id)
            .where(ImportTrack.import_id.in_(sorted(import_ids)))
            .subquery()
        )
        stmt = select(latest.c.status, func.count()).group_by(latest.c.status)
        return {status: n for status, n in session.execute(stmt) if status is not None}

    def analysis_counts_by_import(
        self, session: Session, *, import_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, int]]:
        """Like ``analysis_counts``, for each import separately."""
        if not import_ids:
            return {}
        latest = (
            select(ImportTrack.import_id.label("import_id"), _latest_status().label("status"))
            .select_from(ImportTrack)
            .join(Track, Track.id == ImportTrack.track_id)
            .where(ImportTrack.import_id.in_(sorted(import_ids)))
            .subquery()
        )
        stmt = select(latest.c.import_id, latest.c.status, func.count()).group_by(latest.c.import_id, latest.c.status)
        counts: dict[uuid.UUID, dict[str, int]] = {}
        for import_id, status, n in session.execute(stmt):
            if status is not None:
                counts.setdefault(import_id, {})[status] = n
        return counts

    def reanalysis_candidates(
        self,
        session: Session,
        *,
        mode: ReanalyzeMode,
        analyzer_version: str,
        user_id: uuid.UUID | None = None,
        track_ids: Collection[uuid.UUID] | None = None,
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """``(track_id, user_id)`` of the tracks ``mode`` selects that have no analysis queued or running.

        ``stale``: the newest succeeded analysis ran another analyzer version. ``failed``: the newest analysis
        failed. ``all``: every track.
        """
        conditions: list[ColumnElement[bool]] = [~_has_run(*AnalysisStatus.active())]
        if mode == "stale":
            conditions.append(_has_run(AnalysisStatus.succeeded))
            conditions.append(func.coalesce(_latest_succeeded_version(), "") != analyzer_version)
        elif mode == "failed":
            conditions.append(_latest_status() == AnalysisStatus.failed)
        if user_id is not None:
            conditions.append(Track.user_id == user_id)
        if track_ids is not None:
            if not track_ids:
                return []
            conditions.append(Track.id.in_(sorted(track_ids)))
        stmt = (
            select(Track.id, Track.user_id).where(and_(*conditions)).order_by(Track.user_id, Track.created_at, Track.id)
        )
        return [(track_id, owner) for track_id, owner in session.execute(stmt)]


library_import_repository = LibraryImportRepository()
