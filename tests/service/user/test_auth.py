"""Tokens and the current user over HTTP: issuing, revoking, and what a revoked or disabled token gets."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.models import AuditLog
from service.db import session_scope
from service.user.models import ApiSession, User
from service.user.service import hash_token
from tests.fixtures.app import Account


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def audit_rows(session: Session, action: str) -> list[AuditLog]:
    return list(session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.created_at)))


def test_me_is_the_tokens_user(client: TestClient, alice: Account) -> None:
    # when
    response = client.get("/v1/users/me", headers=alice.headers)
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(alice.user.id)
    assert (body["email"], body["role"], body["is_active"]) == ("alice@example.com", "user", True)
    assert set(body) == {"id", "email", "name", "role", "is_active", "created_at", "last_activity_at"}


def test_issue_a_token_with_defaults(client: TestClient, alice: Account, session: Session) -> None:
    # given
    before = datetime.now(UTC)
    # when
    response = client.post("/v1/auth/tokens", headers=alice.headers)
    # then
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token"].startswith("rt_")
    assert body["token"] != alice.token
    assert body["name"] is None
    expires = parse_time(body["expires_at"])
    assert before + timedelta(days=365) <= expires <= datetime.now(UTC) + timedelta(days=365)
    assert client.get("/v1/users/me", headers=bearer(body["token"])).json()["id"] == str(alice.user.id)
    assert client.get("/v1/users/me", headers=alice.headers).status_code == 200
    stored = session.scalars(select(ApiSession).where(ApiSession.id == uuid.UUID(body["id"]))).one()
    assert stored.token_hash == hash_token(body["token"])
    assert stored.user_id == alice.user.id
    rows = [r for r in audit_rows(session, "token.issued") if r.target_id == body["id"]]
    assert [(r.user_id, r.target_type, r.details) for r in rows] == [(alice.user.id, "session", {})]


def test_issue_a_named_token_with_a_lifetime(client: TestClient, alice: Account, session: Session) -> None:
    # given
    before = datetime.now(UTC)
    # when
    response = client.post("/v1/auth/tokens", headers=alice.headers, json={"name": " studio laptop ", "ttl_days": 7})
    # then
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == "studio laptop"
    expires = parse_time(body["expires_at"])
    assert before + timedelta(days=7) <= expires <= datetime.now(UTC) + timedelta(days=7)
    rows = [r for r in audit_rows(session, "token.issued") if r.target_id == body["id"]]
    assert [r.details for r in rows] == [{"name": "studio laptop"}]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ttl_days": 0}, "ttl_days"),
        ({"ttl_days": 366}, "ttl_days"),
        ({"ttl_days": "soon"}, "ttl_days"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"scope": "admin"}, "scope"),
    ],
)
def test_invalid_token_requests_are_422_naming_the_field(
    client: TestClient, alice: Account, body: dict[str, object], field: str
) -> None:
    # when
    response = client.post("/v1/auth/tokens", headers=alice.headers, json=body)
    # then
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_issuing_needs_a_valid_token(client: TestClient) -> None:
    # when
    missing = client.post("/v1/auth/tokens")
    wrong = client.post("/v1/auth/tokens", headers=bearer("rt_nope"))
    # then
    assert (missing.status_code, wrong.status_code) == (401, 401)


def test_revoking_the_current_token_logs_it_out_and_leaves_the_others(
    client: TestClient, alice: Account, session: Session
) -> None:
    # given
    second = client.post("/v1/auth/tokens", headers=alice.headers).json()
    # when
    response = client.delete("/v1/auth/tokens/current", headers=bearer(second["token"]))
    # then
    assert response.status_code == 204
    assert response.content == b""
    after = client.get("/v1/users/me", headers=bearer(second["token"]))
    assert after.status_code == 401
    assert after.json() == {"error": "Unauthorized", "detail": "invalid or expired token"}
    assert client.delete("/v1/auth/tokens/current", headers=bearer(second["token"])).status_code == 401
    assert client.get("/v1/users/me", headers=alice.headers).status_code == 200
    assert session.scalars(select(ApiSession).where(ApiSession.id == uuid.UUID(second["id"]))).one_or_none() is None
    rows = audit_rows(session, "token.revoked")
    assert [(r.user_id, r.target_type, r.target_id) for r in rows] == [(alice.user.id, "session", second["id"])]


def test_revoking_without_a_token_is_401(client: TestClient) -> None:
    # when
    response = client.delete("/v1/auth/tokens/current")
    # then
    assert response.status_code == 401


def test_a_disabled_users_tokens_stop_working(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    with session_scope(session_factory) as s:
        s.get_one(User, alice.user.id).is_active = False
    # when
    me = client.get("/v1/users/me", headers=alice.headers)
    issue = client.post("/v1/auth/tokens", headers=alice.headers)
    # then
    assert (me.status_code, issue.status_code) == (401, 401)
