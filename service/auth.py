"""Bearer-token authentication dependency."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.db import SessionDep, commit, mark_read_only, reset_read_only
from service.errors import Forbidden, Unauthorized
from service.user.models import User
from service.user.service import user as user_service

_bearer = HTTPBearer(auto_error=False, description="API token from `reftrack users create` or `reftrack serve`")


def current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing bearer token")
    # Authenticate in a short transaction of its own (it may record the session's activity), committed at once:
    # on SQLite the request's own transaction then starts later (read-only for GETs), and an upload does not
    # hold the database's write lock while its body arrives.
    token = mark_read_only(False)
    try:
        user = user_service.authenticate(session, token=credentials.credentials)
        commit(session)
    finally:
        reset_read_only(token)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def bearer_credentials(request: Request) -> HTTPAuthorizationCredentials | None:
    """The request's bearer credentials as ``current_user`` receives them, for checks made before routing."""
    return await _bearer(request)


def admin_user(user: CurrentUser) -> User:
    if user.role != "admin":
        raise Forbidden("admin role required")
    return user


AdminUser = Annotated[User, Depends(admin_user)]
