from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from service.audit.service import audit as audit_service
from service.config import settings
from service.db import utcnow
from service.errors import Conflict, Unauthorized
from service.user.models import ApiSession, User
from service.user.repository import user_repository

TOKEN_PREFIX = "rt_"
# Writing last_activity_at on every request would turn each read into a write; once a minute is plenty.
_ACTIVITY_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    api_session: ApiSession


class UserService:
    def create(self, session: Session, *, email: str, name: str | None = None, role: str = "user") -> User:
        email = email.strip().lower()
        if user_repository.get_by_email(session, email) is not None:
            raise Conflict(f"a user with email {email!r} already exists")
        user = User(email=email, name=name, role=role)
        session.add(user)
        session.flush()
        return user

    def get_or_create(self, session: Session, *, email: str, name: str | None = None) -> tuple[User, bool]:
        existing = user_repository.get_by_email(session, email.strip().lower())
        if existing is not None:
            return existing, False
        return self.create(session, email=email, name=name), True

    def issue_token(
        self,
        session: Session,
        *,
        user: User,
        ttl: timedelta | None = None,
        user_agent: str | None = None,
        ip_address: str | None = None,
    ) -> IssuedToken:
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        ttl = ttl if ttl is not None else timedelta(days=settings.token_ttl_days)
        api_session = ApiSession(
            user_id=user.id,
            token_hash=hash_token(token),
            expires_at=utcnow() + ttl,
            user_agent=user_agent,
            ip_address=ip_address,
        )
        session.add(api_session)
        session.flush()
        audit_service.record(
            session,
            user_id=user.id,
            action="token.issued",
            target_type="session",
            target_id=str(api_session.id),
            ip_address=ip_address,
        )
        return IssuedToken(token=token, api_session=api_session)

    def authenticate(self, session: Session, *, token: str) -> User:
        now = utcnow()
        api_session = user_repository.get_session_by_hash(session, hash_token(token), now=now)
        if api_session is None:
            raise Unauthorized("invalid or expired token")
        user = user_repository.get(session, api_session.user_id)
        if user is None:
            raise Unauthorized("invalid or expired token")
        last = api_session.last_activity_at
        if last is None or now - _aware(last) > _ACTIVITY_RESOLUTION:
            api_session.last_activity_at = now
            user.last_activity_at = now
            session.flush()
        return user


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns; every stored value is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


user = UserService()
