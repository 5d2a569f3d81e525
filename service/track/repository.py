from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.errors import NotFound
from service.track.models import ReferenceTrack


class TrackRepository:
    """Every query is scoped to one user: another user's track simply does not exist here."""

    def get(self, session: Session, *, user_id: uuid.UUID, track_id: uuid.UUID) -> ReferenceTrack | None:
        stmt = select(ReferenceTrack).where(ReferenceTrack.id == track_id, ReferenceTrack.user_id == user_id)
        return session.scalars(stmt).one_or_none()

    def get_or_404(self, session: Session, *, user_id: uuid.UUID, track_id: uuid.UUID) -> ReferenceTrack:
        """The user's track, or :class:`NotFound`: another user's track is indistinguishable from a missing one."""
        track = self.get(session, user_id=user_id, track_id=track_id)
        if track is None:
            raise NotFound("track not found")
        return track

    def get_by_sha256(self, session: Session, *, user_id: uuid.UUID, sha256: str) -> ReferenceTrack | None:
        stmt = select(ReferenceTrack).where(ReferenceTrack.user_id == user_id, ReferenceTrack.content_sha256 == sha256)
        return session.scalars(stmt).one_or_none()

    def list(
        self, session: Session, *, user_id: uuid.UUID, limit: int, offset: int
    ) -> tuple[list[ReferenceTrack], int]:
        base = select(ReferenceTrack).where(ReferenceTrack.user_id == user_id)
        count = session.scalar(select(func.count()).select_from(base.subquery())) or 0
        stmt = base.order_by(ReferenceTrack.created_at.desc(), ReferenceTrack.id.desc()).limit(limit).offset(offset)
        return list(session.scalars(stmt)), count


track_repository = TrackRepository()
