"""Authentication: a bearer token, or a browser's session cookie with its CSRF token.

A request with ``Authorization: Bearer`` is authenticated by the token alone. Without one, the
``reftrack_session`` cookie authenticates it, and a state-changing request (POST, PUT, PATCH, DELETE) must then
also carry the ``X-CSRF-Token`` header with the value of the ``reftrack_csrf`` cookie (double submit): another
site can make a browser send the cookie, not read the CSRF cookie to copy it into a header.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from service.db import SessionDep, commit, mark_read_only, reset_read_only
from service.errors import CsrfFailed, Forbidden, Unauthorized
from service.user.models import User
from service.user.service import csrf_token_for
from service.user.service import user as user_service

SESSION_COOKIE = "reftrack_session"
CSRF_COOKIE = "reftrack_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(auto_error=False, description="API token from `reftrack users create` or `reftrack serve`")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE,
    auto_error=False,
    description=(
        "Browser session, set by `GET /auth/login?ticket=` or `POST /v1/auth/session`. State-changing requests "
        f"must also send the `{CSRF_COOKIE}` cookie's value in the `{CSRF_HEADER}` header."
    ),
)


def check_csrf(request: Request, cookie: str) -> None:
    """Refuse a state-changing request authenticated by ``cookie`` without the matching CSRF header."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    expected = csrf_token_for(cookie)
    if not sent:
        raise CsrfFailed(f"missing {CSRF_HEADER} header: send the value of the {CSRF_COOKIE} cookie")
    if not (hmac.compare_digest(sent, expected) and hmac.compare_digest(request.cookies.get(CSRF_COOKIE, ""), sent)):
        raise CsrfFailed(f"{CSRF_HEADER} header does not match this session's {CSRF_COOKIE} cookie")


def current_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)] = None,
) -> User:
    has_bearer = credentials is not None and credentials.scheme.lower() == "bearer" and bool(credentials.credentials)
    if not has_bearer and not cookie:
        raise Unauthorized("missing bearer token or session cookie")
    # Authenticate in a short transaction of its own (it may record the session's activity), committed at once:
    # on SQLite the request's own transaction then starts later (read-only for GETs), and an upload does not
    # hold the database's write lock while its body arrives.
    token = mark_read_only(False)
    try:
        if has_bearer:
            assert credentials is not None
            user = user_service.authenticate(session, token=credentials.credentials)
        else:
            assert cookie is not None
            user = user_service.authenticate(session, token=cookie, kind="browser")
        commit(session)
    finally:
        reset_read_only(token)
    if not has_bearer:
        assert cookie is not None
        check_csrf(request, cookie)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


async def bearer_credentials(request: Request) -> HTTPAuthorizationCredentials | None:
    """The request's bearer credentials as ``current_user`` receives them, for checks made before routing."""
    return await _bearer(request)


def session_cookie(request: Request) -> str | None:
    """The request's session cookie as ``current_user`` receives it, for checks made before routing."""
    return request.cookies.get(SESSION_COOKIE) or None


def client_ip(request: Request) -> str | None:
    """The address the request came from, as the audit log records it (``None`` when the server cannot tell)."""
    return request.client.host if request.client else None


def admin_user(user: CurrentUser) -> User:
    if user.role != "admin":
        raise Forbidden("admin role required")
    return user


AdminUser = Annotated[User, Depends(admin_user)]


def set_session_cookies(request: Request, response: Response, cookie: str, *, max_age_s: int) -> None:
    """Put a new browser session on ``response``: the HttpOnly session cookie and the CSRF cookie scripts read."""
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE, cookie, max_age=max_age_s, path="/", secure=secure, httponly=True, samesite="lax"
    )
    response.set_cookie(
        CSRF_COOKIE, csrf_token_for(cookie), max_age=max_age_s, path="/", secure=secure, httponly=False, samesite="lax"
    )


def clear_session_cookies(request: Request, response: Response) -> None:
    secure = request.url.scheme == "https"
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")
    response.delete_cookie(CSRF_COOKIE, path="/", secure=secure, httponly=False, samesite="lax")
