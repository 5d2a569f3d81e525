"""Auth tokens, the current user and admin user management."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.security.utils import get_authorization_scheme_param

from service.auth import AdminUser, CurrentUser
from service.db import SessionDep
from service.errors import Forbidden, InvalidInput, NotFound, Unauthorized, error_responses
from service.track.schemas import AdminTrackList, AdminTrackListQuery, AdminTrackRead
from service.track.service import track as track_service
from service.user.repository import user_repository
from service.user.schemas import TokenCreate, TokenIssued, UserAdminUpdate, UserList, UserRead
from service.user.service import user as user_service

router = APIRouter(tags=["auth"])


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


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
        ip_address=_client_ip(request),
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
    user_service.revoke_token(session, user=user, token=token, ip_address=_client_ip(request))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/v1/users/me", response_model=UserRead, tags=["users"], responses=error_responses(Unauthorized))
def read_me(user: CurrentUser) -> UserRead:
    """The user the token belongs to."""
    return UserRead.model_validate(user)


@router.get(
    "/v1/admin/users", response_model=UserList, tags=["admin"], responses=error_responses(Unauthorized, Forbidden)
)
def list_users(session: SessionDep, admin: AdminUser) -> UserList:
    """Every user with their role and whether they are active (admin only)."""
    users = user_repository.list(session)
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
    ip_address = _client_ip(request)
    updated = user_service.update(session, admin=admin, user_id=user_id, changes=changes, ip_address=ip_address)
    return UserRead.model_validate(updated)


@router.get(
    "/v1/admin/tracks",
    response_model=AdminTrackList,
    tags=["admin"],
    responses=error_responses(Unauthorized, Forbidden, InvalidInput),
)
def list_all_tracks(
    request: Request, session: SessionDep, admin: AdminUser, query: Annotated[AdminTrackListQuery, Query()]
) -> AdminTrackList:
    """Every user's tracks with their owner, filtered, sorted and paged like the library (admin only, audited)."""
    page = track_service.list_all_tracks(session, admin=admin, query=query, ip_address=_client_ip(request))
    return AdminTrackList(
        data=[AdminTrackRead.build(t, page.latest.get(t.id)) for t in page.tracks],
        next_cursor=page.next_cursor,
        count=page.count,
    )
