from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.user.models import ApiSession, LoginTicket, User


class UserRepository:
    def get(self, session: Session, user_id: uuid.UUID) -> User | None:
        return session.get(User, user_id)

    def get_by_email(self, session: Session, email: str) -> User | None:
        return session.scalars(select(User).where(User.email == email)).one_or_none()

    def list(self, session: Session) -> list[User]:
        return list(session.scalars(select(User).order_by(User.created_at, User.id)))

    def get_session_by_hash(
        self, session: Session, token_hash: str, *, now: datetime, kind: str = "token"
    ) -> ApiSession | None:
        stmt = (
            select(ApiSession)
            .join(User, User.id == ApiSession.user_id)
            .where(ApiSession.token_hash == token_hash, ApiSession.kind == kind, User.is_active.is_(True))
            .where((ApiSession.expires_at.is_(None)) | (ApiSession.expires_at > now))
        )
        return session.scalars(stmt).one_or_none()

    def get_session_for_user(
        self, session: Session, *, user_id: uuid.UUID, token_hash: str, kind: str = "token"
    ) -> ApiSession | None:
        stmt = select(ApiSession).where(
            ApiSession.user_id == user_id, ApiSession.token_hash == token_hash, ApiSession.kind == kind
        )
        return session.scalars(stmt).one_or_none()

    def get_ticket_by_hash(self, session: Session, ticket_hash: str) -> LoginTicket | None:
        return session.scalars(select(LoginTicket).where(LoginTicket.ticket_hash == ticket_hash)).one_or_none()

    def delete_ticket(self, session: Session, ticket_id: uuid.UUID) -> bool:
        """Delete one ticket; False when another request deleted it first (the ticket was used concurrently)."""
        result = session.execute(delete(LoginTicket).where(LoginTicket.id == ticket_id))
        return bool(getattr(result, "rowcount", 0) == 1)

    def delete_tickets_of(self, session: Session, user_id: uuid.UUID) -> None:
        session.execute(delete(LoginTicket).where(LoginTicket.user_id == user_id))


user_repository = UserRepository()
