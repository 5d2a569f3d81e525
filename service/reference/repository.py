from __future__ import annotations

import uuid

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from service.reference.models import Reference
from service.track.models import Track

ReferenceRow = tuple[Reference, Track]


class ReferenceRepository:
    """Every query is scoped to one user: another user's reference (or track) simply does not exist here."""

    def _rows(self, user_id: uuid.UUID) -> Select[Reference, Track]:
        return (
            select(Reference, Track)
            .join(Track, Track.id == Reference.track_id)
            .where(Reference.user_id == user_id, Track.user_id == user_id)
        )

    def get(self, session: Session, *, user_id: uuid.UUID, reference_id: uuid.UUID) -> ReferenceRow | None:
        row = session.execute(self._rows(user_id).where(Reference.id == reference_id)).one_or_none()
        return None if row is None else (row[0], row[1])

    def in_collection(self, session: Session, *, user_id: uuid.UUID, collection_name: str) -> list[Reference]:
        stmt = (
            select(Reference)
            .where(Reference.user_id == user_id, Reference.collection_name == collection_name)
            .order_by(Reference.sort_order, Reference.created_at, Reference.id)
        )
        return list(session.scalars(stmt))

    def find(
        self, session: Session, *, user_id: uuid.UUID, collection_name: str, track_id: uuid.UUID
    ) -> Reference | None:
        stmt = select(Reference).where(
            Reference.user_id == user_id,
            Reference.collection_name == collection_name,
            Reference.track_id == track_id,
        )
        return session.scalars(stmt).one_or_none()

    def next_sort_order(self, session: Session, *, user_id: uuid.UUID, collection_name: str) -> int:
        stmt = select(func.max(Reference.sort_order)).where(
            Reference.user_id == user_id, Reference.collection_name == collection_name
        )
        highest = session.scalar(stmt)
        return 0 if highest is None else highest + 1

    def collections(self, session: Session, *, user_id: uuid.UUID) -> list[tuple[str, int, int]]:
        """(name, references, favourites) of each collection, by name."""
        favorites = func.sum(case((Reference.is_favorite.is_(True), 1), else_=0))
        stmt = (
            select(Reference.collection_name, func.count(Reference.id), favorites)
            .where(Reference.user_id == user_id)
            .group_by(Reference.collection_name)
            .order_by(Reference.collection_name)
        )
        return [(name, int(count), int(favs or 0)) for name, count, favs in session.execute(stmt)]

    def list(
        self,
        session: Session,
        *,
        user_id: uuid.UUID,
        collection_name: str | None = None,
        is_favorite: bool | None = None,
        limit: int,
        offset: int,
    ) -> tuple[list[ReferenceRow], int]:
        stmt = self._rows(user_id)
        if collection_name is not None:
            stmt = stmt.where(Reference.collection_name == collection_name)
        if is_favorite is not None:
            stmt = stmt.where(Reference.is_favorite.is_(is_favorite))
        count = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        stmt = stmt.order_by(Reference.sort_order, Reference.created_at, Reference.id)
        rows = session.execute(stmt.limit(limit).offset(offset))
        return [(reference, track) for reference, track in rows], count


reference_repository = ReferenceRepository()
