"""Admin endpoints over HTTP: users (list, enable, disable, role) and every user's tracks, audited."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.models import AuditLog
from service.db import session_scope
from service.user.service import user as user_service
from tests.fixtures.app import Account
from tests.service.track.seed import seed_tracks


@pytest.fixture
def admin(session_factory: Callable[[], Session]) -> Account:
    with session_scope(session_factory) as s:
        created = user_service.create(s, email="root@example.com", name="Root", role="admin")
        token = user_service.issue_token(s, user=created).token
    return Account(user=created, token=token)


def audit_rows(session: Session, action: str) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.created_at)))


ADMIN_REQUESTS = [
    ("GET", "/v1/admin/users", None),
    ("PATCH", "/v1/admin/users/{bob}", {"is_active": False}),
    ("GET", "/v1/admin/tracks", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_REQUESTS)
def test_admin_endpoints_are_403_for_users_and_401_without_a_token(
    client: TestClient, alice: Account, bob: Account, method: str, path: str, body: dict[str, Any] | None
) -> None:
    # given
    url = path.format(bob=bob.user.id)
    # when
    forbidden = client.request(method, url, headers=alice.headers, json=body)
    anonymous = client.request(method, url, json=body)
    # then
    assert forbidden.status_code == 403
    assert forbidden.json() == {"error": "Forbidden", "detail": "admin role required"}
    assert anonymous.status_code == 401
    assert client.get("/v1/users/me", headers=bob.headers).json()["is_active"] is True


def test_list_users_with_role_and_status(
    client: TestClient,
    admin: Account,
    alice: Account,
    bob: Account,
    session_factory: Callable[[], Session],
    session: Session,
) -> None:
    # given
    with session_scope(session_factory) as s:
        user_service.set_active(s, email="bob@example.com", is_active=False)
    # when
    response = client.get("/v1/admin/users", headers=admin.headers)
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [(u["email"], u["role"], u["is_active"]) for u in body["data"]] == [
        ("root@example.com", "admin", True),
        ("alice@example.com", "user", True),
        ("bob@example.com", "user", False),
    ]
    rows = audit_rows(session, "user.updated")
    assert [(r.user_id, r.target_id, r.details) for r in rows] == [
        (None, str(bob.user.id), {"is_active": False, "via": "cli"})
    ]


def test_disabling_a_user_cuts_their_tokens_and_enabling_restores_them(
    client: TestClient, admin: Account, bob: Account, session: Session
) -> None:
    # when
    disabled = client.patch(f"/v1/admin/users/{bob.user.id}", headers=admin.headers, json={"is_active": False})
    while_disabled = client.get("/v1/users/me", headers=bob.headers)
    enabled = client.patch(f"/v1/admin/users/{bob.user.id}", headers=admin.headers, json={"is_active": True})
    after = client.get("/v1/users/me", headers=bob.headers)
    # then
    assert disabled.status_code == 200
    assert (disabled.json()["email"], disabled.json()["is_active"]) == ("bob@example.com", False)
    assert while_disabled.status_code == 401
    assert enabled.json()["is_active"] is True
    assert after.status_code == 200
    rows = audit_rows(session, "user.updated")
    assert [(r.user_id, r.target_id, r.details) for r in rows] == [
        (admin.user.id, str(bob.user.id), {"is_active": False, "via": "api"}),
        (admin.user.id, str(bob.user.id), {"is_active": True, "via": "api"}),
    ]


def test_promoting_a_user_gives_them_the_admin_endpoints(
    client: TestClient, admin: Account, alice: Account, session: Session
) -> None:
    # when
    response = client.patch(f"/v1/admin/users/{alice.user.id}", headers=admin.headers, json={"role": "admin"})
    # then
    assert response.status_code == 200
    assert response.json()["role"] == "admin"
    assert client.get("/v1/admin/users", headers=alice.headers).status_code == 200
    assert [r.details for r in audit_rows(session, "user.updated")] == [{"role": "admin", "via": "api"}]


def test_an_unchanged_value_writes_no_audit_row(
    client: TestClient, admin: Account, alice: Account, session: Session
) -> None:
    # when
    response = client.patch(
        f"/v1/admin/users/{alice.user.id}", headers=admin.headers, json={"is_active": True, "role": "user"}
    )
    # then
    assert response.status_code == 200
    assert audit_rows(session, "user.updated") == []


@pytest.mark.parametrize(("body", "field"), [({"is_active": False}, "is_active"), ({"role": "user"}, "role")])
def test_admins_cannot_lock_themselves_out(
    client: TestClient, admin: Account, body: dict[str, Any], field: str
) -> None:
    # when
    response = client.patch(f"/v1/admin/users/{admin.user.id}", headers=admin.headers, json=body)
    # then
    assert response.status_code == 422
    assert response.json()["field"] == field
    me = client.get("/v1/users/me", headers=admin.headers).json()
    assert (me["role"], me["is_active"]) == ("admin", True)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"role": "owner"}, "role"),
        ({"is_active": None}, "is_active"),
        ({"role": None}, "role"),
        ({"email": "x"}, "email"),
    ],
)
def test_invalid_user_updates_are_422_naming_the_field(
    client: TestClient, admin: Account, alice: Account, body: dict[str, Any], field: str
) -> None:
    # when
    response = client.patch(f"/v1/admin/users/{alice.user.id}", headers=admin.headers, json=body)
    # then
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_updating_an_unknown_user_is_404(client: TestClient, admin: Account) -> None:
    # when
    response = client.patch(f"/v1/admin/users/{uuid.uuid4()}", headers=admin.headers, json={"is_active": False})
    # then
    assert response.status_code == 404
    assert response.json() == {"error": "NotFound", "detail": "user not found"}


def test_admin_tracks_lists_every_users_tracks_with_owner_and_is_audited(
    client: TestClient,
    admin: Account,
    alice: Account,
    bob: Account,
    session_factory: Callable[[], Session],
    session: Session,
) -> None:
    # given
    seed_tracks(session_factory, alice, [{"title": f"alice {i}"} for i in range(3)])
    seed_tracks(session_factory, bob, [{"title": f"bob {i}"} for i in range(2)])
    # when
    everything = client.get("/v1/admin/tracks", headers=admin.headers, params={"sort": "title", "limit": 200})
    only_bob = client.get("/v1/admin/tracks", headers=admin.headers, params={"user_id": str(bob.user.id)})
    # then
    assert everything.status_code == 200
    body = everything.json()
    assert [(t["title"], t["user_id"]) for t in body["data"]] == [
        ("alice 0", str(alice.user.id)),
        ("alice 1", str(alice.user.id)),
        ("alice 2", str(alice.user.id)),
        ("bob 0", str(bob.user.id)),
        ("bob 1", str(bob.user.id)),
    ]
    assert (body["count"], body["next_cursor"]) == (5, None)
    assert [t["title"] for t in only_bob.json()["data"]] == ["bob 1", "bob 0"]
    rows = audit_rows(session, "admin.access")
    assert [(r.user_id, r.target_type, r.details) for r in rows] == [
        (admin.user.id, "track", {"resource": "tracks", "user_id": None}),
        (admin.user.id, "track", {"resource": "tracks", "user_id": str(bob.user.id)}),
    ]


def test_admin_tracks_pages_with_a_cursor_like_the_library(
    client: TestClient, admin: Account, alice: Account, bob: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    seed_tracks(session_factory, alice, [{"title": f"a{i}", "bpm": 120.0 if i % 2 else None} for i in range(5)])
    seed_tracks(session_factory, bob, [{"title": f"b{i}", "bpm": 120.0 if i % 2 else None} for i in range(4)])
    params: dict[str, Any] = {"sort": "bpm", "order": "desc"}
    everything = client.get("/v1/admin/tracks", headers=admin.headers, params={**params, "limit": 200}).json()
    full = [t["id"] for t in everything["data"]]
    # when
    walked: list[str] = []
    cursor = None
    while True:
        page = client.get(
            "/v1/admin/tracks",
            headers=admin.headers,
            params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})},
        ).json()
        walked += [t["id"] for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    bad = client.get("/v1/admin/tracks", headers=admin.headers, params={**params, "cursor": "tampered"})
    # then
    assert len(full) == 9
    assert walked == full
    assert bad.status_code == 422
    assert bad.json()["field"] == "cursor"
