from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from service.audit.service import audit as audit_service
from service.config import settings
from service.db import utcnow
from service.errors import Conflict, InvalidInput, NotFound, Unauthorized
from service.user.models import ApiSession, LoginTicket, User
from service.user.repository import user_repository
from service.user.schemas import UserAdminUpdate

TOKEN_PREFIX = "rt_"
# Writing last_activity_at on every request would turn each read into a write; once a minute is plenty.
_ACTIVITY_RESOLUTION = timedelta(minutes=1)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def csrf_token_for(cookie: str) -> str:
    """The CSRF token that goes with a session cookie: derived from it, so it needs no storage, and it tells
    nothing of the cookie (a page's scripts can read it, not the HttpOnly cookie)."""
    return hashlib.sha256(b"reftrack-csrf:" + cookie.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    api_session: ApiSession


class UserService:
    def list_users(self, session: Session) -> list[User]:
        """Every user, for admins."""
        return user_repository.list(session)

    def create(self, session: Session, *, email: str, name: str | None = None, role: str = "user") -> User:
        email = email.strip().lower()
        if user_repository.get_by_email(session, email) is not None:
            raise Conflict(f"a user with email {email!r} already exists")
        user = User(email=email, name=name, role=role)
        session.add(user)
        session.flush()
        return user

    def issue_token(
        self,
        session: Session,
        *,
        user: User,
        ttl: timedelta | None = None,
        user_agent: str | None = None,
        ip_address: str | None = None,
        name: str | None = None,
    ) -> IssuedToken:
        return self._open_session(
            session,
            user=user,
            kind="token",
            secret=TOKEN_PREFIX + secrets.token_urlsafe(32),
            ttl=ttl if ttl is not None else timedelta(days=settings.token_ttl_days),
            user_agent=user_agent,
            ip_address=ip_address,
            action="token.issued",
            # The sessions table has no column for a label, so the audit trail is where it is kept.
            details={"name": name} if name else None,
        )

    def start_browser_session(
        self,
        session: Session,
        *,
        user: User,
        via: str,
        user_agent: str | None = None,
        ip_address: str | None = None,
    ) -> IssuedToken:
        """A cookie session for a browser; ``token`` is the cookie's value, shown only here."""
        return self._open_session(
            session,
            user=user,
            kind="browser",
            secret=secrets.token_urlsafe(32),
            ttl=timedelta(hours=settings.session_ttl_hours),
            user_agent=user_agent,
            ip_address=ip_address,
            action="session.signed_in",
            details={"via": via},
        )

    def _open_session(
        self,
        session: Session,
        *,
        user: User,
        kind: str,
        secret: str,
        ttl: timedelta,
        user_agent: str | None,
        ip_address: str | None,
        action: str,
        details: dict[str, str] | None,
    ) -> IssuedToken:
        """A session row holding only the hash of ``secret``, and its audit record."""
        api_session = ApiSession(
            user_id=user.id,
            kind=kind,
            token_hash=hash_token(secret),
            expires_at=utcnow() + ttl,
            user_agent=user_agent,
            ip_address=ip_address,
        )
        session.add(api_session)
        session.flush()
        audit_service.record(
            session,
            user_id=user.id,
            action=action,
            target_type="session",
            target_id=str(api_session.id),
            ip_address=ip_address,
            details=details,
        )
        return IssuedToken(token=secret, api_session=api_session)

    def end_browser_session(self, session: Session, *, cookie: str, ip_address: str | None = None) -> bool:
        """Delete the cookie's session row, if it still has one; True when there was one."""
        api_session = user_repository.get_session_by_hash(session, hash_token(cookie), now=utcnow(), kind="browser")
        if api_session is None:
            return False
        self._end(
            session,
            api_session=api_session,
            user_id=api_session.user_id,
            action="session.signed_out",
            ip_address=ip_address,
        )
        return True

    def issue_login_ticket(self, session: Session, *, user: User, ttl: timedelta | None = None) -> str:
        """A one-time sign-in secret for ``user``; the user's earlier ones stop working."""
        user_repository.delete_tickets_of(session, user.id)
        ticket = secrets.token_urlsafe(32)
        ttl = ttl if ttl is not None else timedelta(seconds=settings.login_ticket_ttl_s)
        session.add(LoginTicket(user_id=user.id, ticket_hash=hash_token(ticket), expires_at=utcnow() + ttl))
        session.flush()
        return ticket

    def redeem_login_ticket(self, session: Session, *, ticket: str) -> User:
        """The user a one-time ticket signs in; the ticket is used up (an expired one too)."""
        found = user_repository.get_ticket_by_hash(session, hash_token(ticket))
        if found is None or not user_repository.delete_ticket(session, found.id):
            raise Unauthorized("this sign-in link has been used or replaced")
        if _aware(found.expires_at) <= utcnow():
            raise Unauthorized("this sign-in link has expired")
        user = user_repository.get(session, found.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("this sign-in link's user is disabled")
        return user

    def revoke_token(self, session: Session, *, user: User, token: str, ip_address: str | None = None) -> None:
        """Delete the session row behind ``token``; the token is refused from the next request on."""
        api_session = user_repository.get_session_for_user(session, user_id=user.id, token_hash=hash_token(token))
        if api_session is None:
            raise Unauthorized("invalid or expired token")
        self._end(session, api_session=api_session, user_id=user.id, action="token.revoked", ip_address=ip_address)

    def _end(
        self, session: Session, *, api_session: ApiSession, user_id: uuid.UUID, action: str, ip_address: str | None
    ) -> None:
        """Delete a session row, recording who ended it and how."""
        session.delete(api_session)
        audit_service.record(
            session,
            user_id=user_id,
            action=action,
            target_type="session",
            target_id=str(api_session.id),
            ip_address=ip_address,
        )
        session.flush()

    def update(
        self,
        session: Session,
        *,
        admin: User,
        user_id: uuid.UUID,
        changes: UserAdminUpdate,
        ip_address: str | None = None,
    ) -> User:
        """Enable, disable, promote or demote a user. Admins cannot lock themselves out."""
        target = user_repository.get(session, user_id)
        if target is None:
            raise NotFound("user not found")
        if target.id == admin.id and changes.is_active is False:
            raise InvalidInput("is_active: you cannot disable your own account", field="is_active")
        if target.id == admin.id and changes.role == "user":
            raise InvalidInput("role: you cannot remove your own admin role", field="role")
        return self._apply(
            session, target, is_active=changes.is_active, role=changes.role, actor=admin, ip_address=ip_address
        )

    def set_active(self, session: Session, *, email: str, is_active: bool) -> User:
        """Enable or disable a user by email, from the command line (no acting user)."""
        target = user_repository.get_by_email(session, email.strip().lower())
        if target is None:
            raise NotFound(f"no user with email {email.strip().lower()!r}")
        return self._apply(session, target, is_active=is_active, role=None, actor=None, ip_address=None)

    def _apply(
        self,
        session: Session,
        target: User,
        *,
        is_active: bool | None,
        role: str | None,
        actor: User | None,
        ip_address: str | None,
    ) -> User:
        changed: dict[str, Any] = {}
        if is_active is not None and is_active != target.is_active:
            target.is_active = changed["is_active"] = is_active
        if role is not None and role != target.role:
            target.role = changed["role"] = role
        if changed:
            audit_service.record(
                session,
                user_id=actor.id if actor is not None else None,
                action="user.updated",
                target_type="user",
                target_id=str(target.id),
                ip_address=ip_address,
                details={**changed, "via": "api" if actor is not None else "cli"},
            )
        session.flush()
        return target

    def authenticate(self, session: Session, *, token: str, kind: str = "token") -> User:
        """The user of a bearer token (``kind="token"``) or of a browser's session cookie (``kind="browser"``)."""
        now = utcnow()
        api_session = user_repository.get_session_by_hash(session, hash_token(token), now=now, kind=kind)
        if api_session is None:
            raise Unauthorized("invalid or expired token" if kind == "token" else "session expired; sign in again")
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
