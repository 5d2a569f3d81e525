from __future__ import annotations

import uuid
from collections.abc import Collection

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.annotation.models import TrackRegion
from service.listening_prompt.models import ListeningPromptPreset, ListeningPromptTemplate
from service.user.models import User


class TemplateRepository:
    """Templates are global (admin-managed), not user-owned; users only ever see the active ones."""

    def list(self, session: Session, *, include_inactive: bool = False) -> list[ListeningPromptTemplate]:
        stmt = select(ListeningPromptTemplate)
        if not include_inactive:
            stmt = stmt.where(ListeningPromptTemplate.is_active.is_(True))
        stmt = stmt.order_by(
            ListeningPromptTemplate.category, ListeningPromptTemplate.sort_order, ListeningPromptTemplate.id
        )
        return list(session.scalars(stmt))

    def get(
        self, session: Session, *, template_id: uuid.UUID, include_inactive: bool = False
    ) -> ListeningPromptTemplate | None:
        stmt = select(ListeningPromptTemplate).where(ListeningPromptTemplate.id == template_id)
        if not include_inactive:
            stmt = stmt.where(ListeningPromptTemplate.is_active.is_(True))
        return session.scalars(stmt).one_or_none()

    def get_by_key(self, session: Session, *, key: str) -> ListeningPromptTemplate | None:
        return session.scalars(select(ListeningPromptTemplate).where(ListeningPromptTemplate.key == key)).one_or_none()

    def active_keys(self, session: Session, *, keys: Collection[str]) -> set[str]:
        if not keys:
            return set()
        stmt = select(ListeningPromptTemplate.key).where(
            ListeningPromptTemplate.key.in_(list(keys)), ListeningPromptTemplate.is_active.is_(True)
        )
        return set(session.scalars(stmt))

    def active_categories(self, session: Session) -> set[str]:
        stmt = select(ListeningPromptTemplate.category).where(ListeningPromptTemplate.is_active.is_(True)).distinct()
        return set(session.scalars(stmt))


class PresetRepository:
    """Every query is scoped to one user: another user's preset simply does not exist here."""

    def list(self, session: Session, *, user_id: uuid.UUID) -> list[ListeningPromptPreset]:
        stmt = (
            select(ListeningPromptPreset)
            .where(ListeningPromptPreset.user_id == user_id)
            .order_by(ListeningPromptPreset.sort_order, ListeningPromptPreset.created_at, ListeningPromptPreset.id)
        )
        return list(session.scalars(stmt))

    def get(self, session: Session, *, user_id: uuid.UUID, preset_id: uuid.UUID) -> ListeningPromptPreset | None:
        stmt = select(ListeningPromptPreset).where(
            ListeningPromptPreset.id == preset_id, ListeningPromptPreset.user_id == user_id
        )
        return session.scalars(stmt).one_or_none()

    def get_default(self, session: Session, *, user_id: uuid.UUID) -> ListeningPromptPreset | None:
        stmt = (
            select(ListeningPromptPreset)
            .where(ListeningPromptPreset.user_id == user_id, ListeningPromptPreset.is_default.is_(True))
            .order_by(ListeningPromptPreset.sort_order, ListeningPromptPreset.created_at, ListeningPromptPreset.id)
            .limit(1)
        )
        return session.scalars(stmt).one_or_none()

    def next_sort_order(self, session: Session, *, user_id: uuid.UUID) -> int:
        stmt = select(func.max(ListeningPromptPreset.sort_order)).where(ListeningPromptPreset.user_id == user_id)
        highest = session.scalar(stmt)
        return 0 if highest is None else highest + 1

    def clear_defaults(self, session: Session, *, user_id: uuid.UUID, keep_id: uuid.UUID) -> None:
        session.execute(
            update(ListeningPromptPreset)
            .where(
                ListeningPromptPreset.user_id == user_id,
                ListeningPromptPreset.id != keep_id,
                ListeningPromptPreset.is_default.is_(True),
            )
            .values(is_default=False)
            .execution_options(synchronize_session="fetch")
        )

    def lock_owner(self, session: Session, *, user_id: uuid.UUID) -> None:
        """Serialise changes of one user's default preset: two requests setting different defaults queue here."""
        session.execute(select(User.id).where(User.id == user_id).with_for_update())


class PromptDataRepository:
    """The regions the prompt engine reads, each query scoped to the owner; analysis data comes from its service."""

    def regions(self, session: Session, *, track_id: uuid.UUID, user_id: uuid.UUID) -> list[TrackRegion]:
        stmt = (
            select(TrackRegion)
            .where(TrackRegion.track_id == track_id, TrackRegion.user_id == user_id)
            .order_by(TrackRegion.sort_order, TrackRegion.created_at, TrackRegion.id)
        )
        return list(session.scalars(stmt))

    def region_exists(self, session: Session, *, region_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        stmt = select(TrackRegion.id).where(TrackRegion.id == region_id, TrackRegion.user_id == user_id)
        return session.scalars(stmt).first() is not None


template_repository = TemplateRepository()
preset_repository = PresetRepository()
prompt_data_repository = PromptDataRepository()
