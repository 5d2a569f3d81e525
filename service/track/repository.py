from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, insert, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from service.errors import NotFound
from service.track.models import Track

SORT_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "created_at": Track.created_at,
    "title": Track.title,
    "bpm": Track.bpm,
    "duration": Track.duration_seconds,
    "loudness": Track.loudness_lufs,
}
NULLABLE_SORTS = frozenset({"bpm", "duration", "loudness"})


@dataclass(frozen=True, slots=True)
class TrackFilters:
    """Library filters, already validated and normalised (keys spelled as stored, search terms split)."""

    bpm_min: float | None = None
    bpm_max: float | None = None
    keys: frozenset[str] | None = None
    genre: str | None = None
    artist: str | None = None
    status: str | None = None
    # ``status`` as a condition on the track's latest analysis, which only the analysis_run repository can read.
    latest_status_is: ColumnElement[bool] | None = None
    terms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Position:
    """Where the previous page ended: its last track's sort value and id."""

    value: Any
    track_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Ordering:
    sort: str
    descending: bool


def _conditions(filters: TrackFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.bpm_min is not None:
        conditions.append(Track.bpm >= filters.bpm_min)
    if filters.bpm_max is not None:
        conditions.append(Track.bpm <= filters.bpm_max)
    if filters.keys is not None:
        conditions.append(Track.key.in_(sorted(filters.keys)))
    # lower() on both sides, so the comparison folds case the same way whatever the database's lower() does.
    if filters.genre is not None:
        conditions.append(func.lower(Track.genre) == func.lower(filters.genre))
    if filters.artist is not None:
        conditions.append(func.lower(Track.artist) == func.lower(filters.artist))
    if filters.latest_status_is is not None:
        conditions.append(filters.latest_status_is)
    for term in filters.terms:
        conditions.append(
            or_(
                Track.title.icontains(term, autoescape=True),
                Track.artist.icontains(term, autoescape=True),
                Track.album.icontains(term, autoescape=True),
            )
        )
    return conditions


def _after(ordering: Ordering, position: Position) -> ColumnElement[bool]:
    """Rows strictly after ``position`` in the page order: (sort value, id), NULL sort values last."""
    column = SORT_COLUMNS[ordering.sort]
    track_id = Track.id

    def beyond(left: Any, right: Any) -> ColumnElement[bool]:
        return left < right if ordering.descending else left > right  # type: ignore[no-any-return]

    if position.value is None:
        return and_(column.is_(None), beyond(track_id, position.track_id))
    after = or_(beyond(column, position.value), and_(column == position.value, beyond(track_id, position.track_id)))
    if ordering.sort in NULLABLE_SORTS:
        after = or_(after, column.is_(None))
    return after


def _ordered(stmt: Select[Track], ordering: Ordering) -> Select[Track]:
    column = SORT_COLUMNS[ordering.sort]
    if ordering.descending:
        return stmt.order_by(column.desc().nulls_last(), Track.id.desc())
    return stmt.order_by(column.asc().nulls_last(), Track.id.asc())


class TrackRepository:
    """Every query is scoped to one user: another user's track simply does not exist here.

    The ``*_all_users`` methods are the one exception, for the admin API, and say so in their names.
    """

    def get(self, session: Session, *, user_id: uuid.UUID, track_id: uuid.UUID) -> Track | None:
        stmt = select(Track).where(Track.id == track_id, Track.user_id == user_id)
        return session.scalars(stmt).one_or_none()

    def get_or_404(self, session: Session, *, user_id: uuid.UUID, track_id: uuid.UUID) -> Track:
        """The user's track, or :class:`NotFound`: another user's track is indistinguishable from a missing one."""
        track = self.get(session, user_id=user_id, track_id=track_id)
        if track is None:
            raise NotFound("track not found")
        return track

    def add_many(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            session.execute(insert(Track), list(rows))

    def get_by_sha256(self, session: Session, *, user_id: uuid.UUID, sha256: str) -> Track | None:
        stmt = select(Track).where(Track.user_id == user_id, Track.content_sha256 == sha256)
        return session.scalars(stmt).one_or_none()

    def page(
        self,
        session: Session,
        *,
        user_id: uuid.UUID,
        filters: TrackFilters,
        ordering: Ordering,
        limit: int,
        after: Position | None = None,
    ) -> list[Track]:
        """Up to ``limit`` of the user's matching tracks in ``ordering``, starting after ``after`` (keyset)."""
        return self._page(session, [Track.user_id == user_id], filters, ordering, limit, after)

    def count(self, session: Session, *, user_id: uuid.UUID, filters: TrackFilters) -> int:
        return self._count(session, [Track.user_id == user_id], filters)

    def page_all_users(
        self,
        session: Session,
        *,
        owner_id: uuid.UUID | None,
        filters: TrackFilters,
        ordering: Ordering,
        limit: int,
        after: Position | None = None,
    ) -> list[Track]:
        """Like :meth:`page` over every user's tracks (or one ``owner_id``'s): admin only."""
        scope = [] if owner_id is None else [Track.user_id == owner_id]
        return self._page(session, scope, filters, ordering, limit, after)

    def count_all_users(self, session: Session, *, owner_id: uuid.UUID | None, filters: TrackFilters) -> int:
        scope = [] if owner_id is None else [Track.user_id == owner_id]
        return self._count(session, scope, filters)

    def _page(
        self,
        session: Session,
        scope: Sequence[ColumnElement[bool]],
        filters: TrackFilters,
        ordering: Ordering,
        limit: int,
        after: Position | None,
    ) -> list[Track]:
        stmt = select(Track).where(*scope, *_conditions(filters))
        if after is not None:
            stmt = stmt.where(_after(ordering, after))
        return list(session.scalars(_ordered(stmt, ordering).limit(limit)))

    def _count(self, session: Session, scope: Sequence[ColumnElement[bool]], filters: TrackFilters) -> int:
        stmt = select(func.count(Track.id)).where(*scope, *_conditions(filters))
        return session.scalar(stmt) or 0


track_repository = TrackRepository()
