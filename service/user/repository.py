from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.user.models import ApiSession, User


class UserRepository:
    def get(self, session: Session, user_id: uuid.UUID) -> User | None:
        return session.get(User, user_id)

    def get_by_email(self, session: Session, email: str) -> User | None:
        return session.scalars(select(User).where(User.email == email)).one_or_none()

    def list(self, session: Session) -> list[User]:
        return list(session.scalars(select(User).order_by(User.created_at, User.id)))

    def get_session_by_hash(self, session: Session, token_hash: str, *, now: datetime) -> ApiSession | None:
        stmt = (
            select(ApiSession)
            .join(User, User.id == ApiSession.user_id)
            .where(ApiSession.token_hash == token_hash, User.is_active.is_(True))
            .where((ApiSession.expires_at.is_(None)) | (ApiSession.expires_at > now))
        )
        return session.scalars(stmt).one_or_none()

    def get_session_for_user(self, session: Session, *, user_id: uuid.UUID, token_hash: str) -> ApiSession | None:
        stmt = select(ApiSession).where(ApiSession.user_id == user_id, ApiSession.token_hash == token_hash)
        return session.scalars(stmt).one_or_none()


user_repository = UserRepository()
