from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.annotation.models import TrackAnnotation, TrackRegion


class AnnotationRepository:
    """Every query is scoped to one user and one track: nobody else's annotation is found through another track."""

    def list(
        self,
        session: Session,
        *,
        user_id: uuid.UUID,
        track_id: uuid.UUID,
        types: Sequence[str] | None = None,
        window_start: float | None = None,
        window_end: float | None = None,
    ) -> list[TrackAnnotation]:
        """Annotations in time order; with a window, those that overlap it (a point inside it, or a span across it)."""
        stmt = select(TrackAnnotation).where(TrackAnnotation.user_id == user_id, TrackAnnotation.track_id == track_id)
        if types:
            stmt = stmt.where(TrackAnnotation.annotation_type.in_(types))
        if window_start is not None:
            ends = func.coalesce(TrackAnnotation.end_time_seconds, TrackAnnotation.start_time_seconds)
            stmt = stmt.where(ends >= window_start)
        if window_end is not None:
            stmt = stmt.where(TrackAnnotation.start_time_seconds <= window_end)
        stmt = stmt.order_by(TrackAnnotation.start_time_seconds, TrackAnnotation.created_at, TrackAnnotation.id)
        return list(session.scalars(stmt))

    def get(
        self, session: Session, *, user_id: uuid.UUID, track_id: uuid.UUID, annotation_id: uuid.UUID
    ) -> TrackAnnotation | None:
        stmt = select(TrackAnnotation).where(
            TrackAnnotation.id == annotation_id,
            TrackAnnotation.track_id == track_id,
            TrackAnnotation.user_id == user_id,
        )
        return session.scalars(stmt).one_or_none()


class RegionRepository:
    """Every query is scoped to one user and one track, like :class:`AnnotationRepository`."""

    def list(self, session: Session, *, user_id: uuid.UUID, track_id: uuid.UUID) -> list[TrackRegion]:
        stmt = (
            select(TrackRegion)
            .where(TrackRegion.user_id == user_id, TrackRegion.track_id == track_id)
            .order_by(TrackRegion.sort_order, TrackRegion.created_at, TrackRegion.id)
        )
        return list(session.scalars(stmt))

    def get(
        self, session: Session, *, user_id: uuid.UUID, track_id: uuid.UUID, region_id: uuid.UUID
    ) -> TrackRegion | None:
        stmt = select(TrackRegion).where(
            TrackRegion.id == region_id, TrackRegion.track_id == track_id, TrackRegion.user_id == user_id
        )
        return session.scalars(stmt).one_or_none()

    def next_sort_order(self, session: Session, *, user_id: uuid.UUID, track_id: uuid.UUID) -> int:
        """The position after the last region of the track (0 for the first)."""
        stmt = select(func.max(TrackRegion.sort_order)).where(
            TrackRegion.user_id == user_id, TrackRegion.track_id == track_id
        )
        last = session.scalar(stmt)
        return 0 if last is None else last + 1


annotation_repository = AnnotationRepository()
region_repository = RegionRepository()
