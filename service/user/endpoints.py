"""Auth tokens, the current user and admin user management."""

from __future__ import annotations

import html
import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security.utils import get_authorization_scheme_param

from service.config import settings
from service.db import SessionDep, mark_read_only, reset_read_only
from service.errors import CsrfFailed, Forbidden, InvalidInput, NotFound, Unauthorized, error_responses
from service.user.auth import (
    AdminUser,
    CurrentUser,
    check_csrf,
    clear_session_cookies,
    client_ip,
    session_cookie,
    set_session_cookies,
)
from service.user.schemas import SessionCreate, TokenCreate, TokenIssued, UserAdminUpdate, UserList, UserRead
from service.user.service import user as user_service

router = APIRouter(tags=["auth"])


@router.post(
    "/v1/auth/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=TokenIssued,
    responses=error_responses(Unauthorized, InvalidInput),
)
def issue_token(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    body: Annotated[TokenCreate | None, Body()] = None,
) -> TokenIssued:
    """Issue another API token for yourself (authenticated with a current one); the token is shown only here."""
    body = body or TokenCreate()
    issued = user_service.issue_token(
        session,
        user=user,
        ttl=timedelta(days=body.ttl_days) if body.ttl_days is not None else None,
        user_agent=(request.headers.get("user-agent") or "")[:500] or None,
        ip_address=client_ip(request),
        name=body.name,
    )
    api_session = issued.api_session
    assert api_session.expires_at is not None
    return TokenIssued(
        id=api_session.id,
        token=issued.token,
        name=body.name,
        expires_at=api_session.expires_at,
        created_at=api_session.created_at,
    )


@router.delete(
    "/v1/auth/tokens/current",
    status_code=status.HTTP_204_NO_CONTENT,
    response_model=None,
    responses=error_responses(Unauthorized),
)
def revoke_current_token(request: Request, session: SessionDep, user: CurrentUser) -> Response:
    """Revoke the token this request is authenticated with (log out); it is refused from then on."""
    # CurrentUser has already accepted the header, so it holds a bearer token.
    _, token = get_authorization_scheme_param(request.headers.get("authorization"))
    user_service.revoke_token(session, user=user, token=token, ip_address=client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _user_agent(request: Request) -> str | None:
    return (request.headers.get("user-agent") or "")[:500] or None


# Sign-in pages and answers carry secrets: never cached, and the ticket never sent on as a Referer.
_PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}

_LINK_REFUSED = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign-in link not valid - reftrack</title></head>
<body>
<h1>This sign-in link does not work</h1>
<p>{reason}.</p>
<p>Each link printed by <code>reftrack serve</code> signs in once, within an hour, and only until the service
is started again. Restart <code>reftrack serve</code> for a new link, or <a href="/">sign in with an API token</a>.</p>
</body>
</html>
"""


@router.get("/auth/login", include_in_schema=False)
def sign_in_with_ticket(
    request: Request, session: SessionDep, ticket: Annotated[str, Query(max_length=200)]
) -> Response:
    """Use a one-time sign-in link: set the session cookie and go to the app, or say why the link is refused."""
    # A GET that writes: its transaction must take the write lock at once, like any write (SQLite).
    read_only = mark_read_only(False)
    try:
        try:
            user = user_service.redeem_login_ticket(session, ticket=ticket)
        except Unauthorized as exc:
            page = _LINK_REFUSED.format(reason=html.escape(exc.message[0].upper() + exc.message[1:]))
            return HTMLResponse(page, status_code=status.HTTP_401_UNAUTHORIZED, headers=_PRIVATE)
        issued = user_service.start_browser_session(
            session, user=user, via="ticket", user_agent=_user_agent(request), ip_address=client_ip(request)
        )
    finally:
        reset_read_only(read_only)
    response = RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER, headers=_PRIVATE)
    set_session_cookies(request, response, issued.token, max_age_s=settings.session_ttl_hours * 3600)
    return response


@router.post(
    "/v1/auth/session",
    response_model=UserRead,
    responses=error_responses(Unauthorized, InvalidInput),
)
def sign_in_with_token(
    request: Request, response: Response, session: SessionDep, body: Annotated[SessionCreate, Body()]
) -> UserRead:
    """Sign a browser in with an API token: sets the HttpOnly `reftrack_session` cookie and the `reftrack_csrf`
    cookie, whose value state-changing requests send in the `X-CSRF-Token` header. A session already in the
    browser is signed out."""
    user = user_service.authenticate(session, token=body.token)
    previous = session_cookie(request)
    if previous:
        user_service.end_browser_session(session, cookie=previous, ip_address=client_ip(request))
    issued = user_service.start_browser_session(
        session, user=user, via="token", user_agent=_user_agent(request), ip_address=client_ip(request)
    )
    set_session_cookies(request, response, issued.token, max_age_s=settings.session_ttl_hours * 3600)
    response.headers.update(_PRIVATE)
    return UserRead.model_validate(user)


@router.delete(
    "/v1/auth/session",
    status_code=status.HTTP_204_NO_CONTENT,
    response_model=None,
    responses=error_responses(CsrfFailed),
)
def sign_out(request: Request, session: SessionDep) -> Response:
    """Sign the browser out: its session is revoked on the server and both cookies are cleared. Needs the
    `X-CSRF-Token` header while the session is valid; without a valid session it only clears the cookies."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    cookie = session_cookie(request)
    if cookie:
        try:
            user_service.authenticate(session, token=cookie, kind="browser")
        except Unauthorized:
            cookie = None
    if cookie:
        check_csrf(request, cookie)
        user_service.end_browser_session(session, cookie=cookie, ip_address=client_ip(request))
    clear_session_cookies(request, response)
    return response


@router.get("/v1/users/me", response_model=UserRead, tags=["users"], responses=error_responses(Unauthorized))
def read_me(user: CurrentUser) -> UserRead:
    """The user the token belongs to."""
    return UserRead.model_validate(user)


@router.get(
    "/v1/admin/users", response_model=UserList, tags=["admin"], responses=error_responses(Unauthorized, Forbidden)
)
def list_users(session: SessionDep, admin: AdminUser) -> UserList:
    """Every user with their role and whether they are active (admin only)."""
    users = user_service.list_users(session)
    return UserList(data=[UserRead.model_validate(u) for u in users], count=len(users))


@router.patch(
    "/v1/admin/users/{user_id}",
    response_model=UserRead,
    tags=["admin"],
    responses=error_responses(Unauthorized, Forbidden, NotFound, InvalidInput),
)
def update_user(
    request: Request,
    user_id: uuid.UUID,
    changes: Annotated[UserAdminUpdate, Body()],
    session: SessionDep,
    admin: AdminUser,
) -> UserRead:
    """Enable or disable a user, or change their role (admin only; you cannot disable or demote yourself)."""
    ip_address = client_ip(request)
    updated = user_service.update(session, admin=admin, user_id=user_id, changes=changes, ip_address=ip_address)
    return UserRead.model_validate(updated)
