from __future__ import annotations

import uuid

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisEvent, AnalysisRun, FrameManifest


class AnalysisRunRepository:
    def get(self, session: Session, analysis_id: uuid.UUID, *, for_update: bool = False) -> AnalysisRun | None:
        stmt = select(AnalysisRun).where(AnalysisRun.id == analysis_id)
        if for_update:
            stmt = stmt.with_for_update()
        return session.scalars(stmt).one_or_none()

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
            .where(AnalysisRun.track_id == track_id, AnalysisRun.user_id == user_id, AnalysisRun.status == "succeeded")
            .order_by(AnalysisRun.completed_at.desc(), AnalysisRun.created_at.desc(), AnalysisRun.id.desc())
            .limit(1)
        )
        return session.scalars(stmt).one_or_none()

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

    def clear_outputs(self, session: Session, *, analysis_id: uuid.UUID) -> None:
        """Remove what an earlier attempt of the same analysis wrote, so a rerun leaves one result."""
        session.execute(delete(AnalysisEvent).where(AnalysisEvent.analysis_id == analysis_id))
        session.execute(delete(FrameManifest).where(FrameManifest.analysis_id == analysis_id))


analysis_run_repository = AnalysisRunRepository()
