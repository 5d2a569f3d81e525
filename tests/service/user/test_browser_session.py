"""Browser sign-in over HTTP: the one-time link, signing in with a token, the session cookie, CSRF, signing out."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.models import AuditLog
from service.db import session_scope, utcnow
from service.storage import LocalStorage
from service.user.models import ApiSession, LoginTicket, User
from service.user.service import csrf_token_for, hash_token
from service.user.service import user as user_service
from tests.fixtures.app import Account, make_client
from tests.fixtures.audio import click_track, write_audio


def issue_ticket(session_factory: Callable[[], Session], account: Account, *, ttl: timedelta | None = None) -> str:
    with session_scope(session_factory) as s:
        user = s.get(User, account.user.id)
        assert user is not None
        return user_service.issue_login_ticket(s, user=user, ttl=ttl)


def sign_in(client: TestClient, ticket: str) -> None:
    response = client.get("/auth/login", params={"ticket": ticket}, follow_redirects=False)
    assert response.status_code == 303, response.text


def csrf(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["reftrack_csrf"]}


def set_cookies(response_headers: list[tuple[str, str]]) -> dict[str, str]:
    """Each Set-Cookie header by cookie name, lower-cased, attributes included."""
    cookies = {}
    for name, value in response_headers:
        if name.lower() == "set-cookie":
            cookies[value.split("=", 1)[0]] = value.lower()
    return cookies


@pytest.fixture
def browser(session_factory: Callable[[], Session], local_storage: LocalStorage) -> Iterator[TestClient]:
    """A second client with a cookie jar of its own, for another user's browser."""
    with make_client(session_factory, local_storage) as c:
        yield c


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    return write_audio(folder / "clip.wav", click_track(bpm=120, seconds=3, sr=22050), 22050, "wav")


def test_the_one_time_link_sets_the_session_and_csrf_cookies_and_goes_to_the_app(
    client: TestClient, alice: Account, session_factory: Callable[[], Session], session: Session
) -> None:
    # given
    ticket = issue_ticket(session_factory, alice)
    # when
    response = client.get("/auth/login", params={"ticket": ticket}, follow_redirects=False)
    # then
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"
    cookies = set_cookies(response.headers.multi_items())
    assert set(cookies) == {"reftrack_session", "reftrack_csrf"}
    ttl_s = 14 * 24 * 3600
    for name in ("reftrack_session", "reftrack_csrf"):
        attributes = {a.strip() for a in cookies[name].split(";")[1:]}
        assert {f"max-age={ttl_s}", "path=/", "samesite=lax"} <= attributes
        assert "secure" not in attributes
    assert "httponly" in cookies["reftrack_session"]
    assert "httponly" not in cookies["reftrack_csrf"]
    value = client.cookies["reftrack_session"]
    assert client.cookies["reftrack_csrf"] == csrf_token_for(value)
    me = client.get("/v1/users/me")
    assert me.status_code == 200
    assert me.json()["id"] == str(alice.user.id)
    stored = session.scalars(select(ApiSession).where(ApiSession.token_hash == hash_token(value))).one()
    assert (stored.user_id, stored.kind) == (alice.user.id, "browser")
    assert session.scalars(select(LoginTicket)).all() == []
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "session.signed_in")).all()
    assert [(a.user_id, a.target_id, a.details) for a in audit] == [(alice.user.id, str(stored.id), {"via": "ticket"})]


def test_the_one_time_link_works_once(
    client: TestClient, browser: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    ticket = issue_ticket(session_factory, alice)
    sign_in(client, ticket)
    # when
    response = browser.get("/auth/login", params={"ticket": ticket}, follow_redirects=False)
    # then
    assert response.status_code == 401
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "This sign-in link has been used or replaced." in response.text
    assert "set-cookie" not in response.headers
    assert browser.get("/v1/users/me").status_code == 401


def test_an_expired_link_is_refused(client: TestClient, alice: Account, session_factory: Callable[[], Session]) -> None:
    # given
    ticket = issue_ticket(session_factory, alice, ttl=timedelta(seconds=-1))
    # when
    response = client.get("/auth/login", params={"ticket": ticket}, follow_redirects=False)
    # then
    assert response.status_code == 401
    assert "This sign-in link has expired." in response.text
    assert "reftrack_session" not in client.cookies


def test_a_new_link_replaces_the_earlier_one(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    first = issue_ticket(session_factory, alice)
    second = issue_ticket(session_factory, alice)
    # when
    refused = client.get("/auth/login", params={"ticket": first}, follow_redirects=False)
    accepted = client.get("/auth/login", params={"ticket": second}, follow_redirects=False)
    # then
    assert (refused.status_code, accepted.status_code) == (401, 303)


def test_a_disabled_users_link_is_refused(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    ticket = issue_ticket(session_factory, alice)
    with session_scope(session_factory) as s:
        user_service.set_active(s, email=alice.user.email, is_active=False)
    # when
    response = client.get("/auth/login", params={"ticket": ticket}, follow_redirects=False)
    # then
    assert response.status_code == 401
    assert "This sign-in link&#x27;s user is disabled." in response.text


def test_sign_in_with_a_token_sets_the_cookies_and_answers_the_user(
    client: TestClient, alice: Account, session: Session
) -> None:
    # when
    response = client.post("/v1/auth/session", json={"token": alice.token})
    # then
    assert response.status_code == 200, response.text
    assert response.json() == client.get("/v1/users/me", headers=alice.headers).json()
    assert response.headers["cache-control"] == "no-store"
    assert set(set_cookies(response.headers.multi_items())) == {"reftrack_session", "reftrack_csrf"}
    assert client.get("/v1/users/me").json()["email"] == "alice@example.com"
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "session.signed_in")).all()
    assert [a.details for a in audit] == [{"via": "token"}]


def test_signing_in_again_ends_the_earlier_session_of_the_browser(
    client: TestClient, alice: Account, bob: Account
) -> None:
    # given
    client.post("/v1/auth/session", json={"token": alice.token})
    earlier = client.cookies["reftrack_session"]
    # when
    response = client.post("/v1/auth/session", json={"token": bob.token})
    # then
    assert response.json()["email"] == "bob@example.com"
    assert client.get("/v1/users/me").json()["email"] == "bob@example.com"
    client.cookies.clear()
    assert client.get("/v1/users/me", headers={"Cookie": f"reftrack_session={earlier}"}).status_code == 401


@pytest.mark.parametrize("token", ["rt_not-a-token", " "])
def test_sign_in_with_a_wrong_token_sets_no_cookie(client: TestClient, alice: Account, token: str) -> None:
    # when
    response = client.post("/v1/auth/session", json={"token": token})
    # then
    assert response.status_code in (401, 422)
    assert "set-cookie" not in response.headers
    assert client.get("/v1/users/me").status_code == 401


def test_a_session_cookie_is_not_a_bearer_token_nor_a_token_a_cookie(
    client: TestClient, browser: TestClient, alice: Account
) -> None:
    # given
    client.post("/v1/auth/session", json={"token": alice.token})
    cookie = client.cookies["reftrack_session"]
    # when
    as_bearer = browser.get("/v1/users/me", headers={"Authorization": f"Bearer {cookie}"})
    as_cookie = browser.get("/v1/users/me", headers={"Cookie": f"reftrack_session={alice.token}"})
    as_sign_in = browser.post("/v1/auth/session", json={"token": cookie})
    # then
    assert [r.status_code for r in (as_bearer, as_cookie, as_sign_in)] == [401, 401, 401]
    assert as_cookie.json() == {"error": "Unauthorized", "detail": "session expired; sign in again"}


def test_without_a_session_me_is_401(client: TestClient) -> None:
    # when
    response = client.get("/v1/users/me")
    # then
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "detail": "missing bearer token or session cookie"}


def test_an_expired_session_is_refused(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    client.post("/v1/auth/session", json={"token": alice.token})
    with session_scope(session_factory) as s:
        stored = s.scalars(select(ApiSession).where(ApiSession.kind == "browser")).one()
        stored.expires_at = utcnow() - timedelta(seconds=1)
    # when
    response = client.get("/v1/users/me")
    # then
    assert response.status_code == 401


def test_a_disabled_users_session_is_refused(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given
    client.post("/v1/auth/session", json={"token": alice.token})
    with session_scope(session_factory) as s:
        user_service.set_active(s, email=alice.user.email, is_active=False)
    # when
    response = client.get("/v1/users/me")
    # then
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        (None, "missing X-CSRF-Token header: send the value of the reftrack_csrf cookie"),
        ("0" * 64, "X-CSRF-Token header does not match this session's reftrack_csrf cookie"),
    ],
)
def test_a_cookie_session_write_without_the_csrf_token_is_refused(
    client: TestClient, alice: Account, session: Session, header: str | None, detail: str
) -> None:
    # given
    client.post("/v1/auth/session", json={"token": alice.token})
    before = len(session.scalars(select(ApiSession).where(ApiSession.kind == "token")).all())
    # when
    headers = {"X-CSRF-Token": header} if header else {}
    response = client.post("/v1/auth/tokens", json={"name": "from a form"}, headers=headers)
    # then
    assert response.status_code == 403
    assert response.json() == {"error": "CsrfFailed", "detail": detail}
    session.expire_all()
    assert len(session.scalars(select(ApiSession).where(ApiSession.kind == "token")).all()) == before


def test_the_csrf_header_must_match_the_csrf_cookie_too(client: TestClient, alice: Account) -> None:
    # given: a header right for the session, but the cookie overwritten (as a sibling site could)
    client.post("/v1/auth/session", json={"token": alice.token})
    right = client.cookies["reftrack_csrf"]
    client.cookies.set("reftrack_csrf", "f" * 64)
    # when
    response = client.post("/v1/auth/tokens", headers={"X-CSRF-Token": right})
    # then
    assert response.status_code == 403
    assert response.json()["error"] == "CsrfFailed"


def test_a_cookie_session_write_with_the_csrf_token_is_done(client: TestClient, alice: Account) -> None:
    # given
    client.post("/v1/auth/session", json={"token": alice.token})
    # when
    response = client.post("/v1/auth/tokens", json={"name": "from the app"}, headers=csrf(client))
    # then
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "from the app"


def test_bearer_requests_need_no_csrf_token(client: TestClient, alice: Account) -> None:
    # when
    response = client.post("/v1/auth/tokens", headers=alice.headers)
    # then
    assert response.status_code == 201


def test_reads_need_no_csrf_token(client: TestClient, alice: Account) -> None:
    # given
    client.post("/v1/auth/session", json={"token": alice.token})
    # when
    response = client.get("/v1/tracks")
    # then
    assert response.status_code == 200


def test_the_cookie_session_uploads_and_plays_audio_with_range(client: TestClient, alice: Account, wav: Path) -> None:
    # given
    client.post("/v1/auth/session", json={"token": alice.token})
    data = wav.read_bytes()
    # when
    refused = client.post("/v1/tracks", files={"file": ("clip.wav", data)})
    uploaded = client.post("/v1/tracks", files={"file": ("clip.wav", data)}, headers=csrf(client))
    track_id = uploaded.json()["id"]
    played = client.get(f"/v1/tracks/{track_id}/audio", headers={"Range": "bytes=100-199"})
    # then
    assert refused.status_code == 403
    assert refused.json()["error"] == "CsrfFailed"
    assert uploaded.status_code == 202, uploaded.text
    assert played.status_code == 206
    assert played.content == data[100:200]
    assert played.headers["content-range"] == f"bytes 100-199/{len(data)}"


def test_another_users_session_sees_none_of_it(
    client: TestClient, browser: TestClient, alice: Account, bob: Account, wav: Path
) -> None:
    # given
    client.post("/v1/auth/session", json={"token": alice.token})
    track_id = client.post("/v1/tracks", files={"file": ("clip.wav", wav.read_bytes())}, headers=csrf(client)).json()[
        "id"
    ]
    browser.post("/v1/auth/session", json={"token": bob.token})
    # when
    listed = browser.get("/v1/tracks")
    read = browser.get(f"/v1/tracks/{track_id}")
    played = browser.get(f"/v1/tracks/{track_id}/audio")
    deleted = browser.delete(f"/v1/tracks/{track_id}", headers=csrf(browser))
    # then
    assert listed.json()["data"] == []
    assert [r.status_code for r in (read, played, deleted)] == [404, 404, 404]
    assert client.get(f"/v1/tracks/{track_id}").status_code == 200


def test_sign_out_revokes_the_session_and_clears_the_cookies(
    client: TestClient, alice: Account, session: Session
) -> None:
    # given
    client.post("/v1/auth/session", json={"token": alice.token})
    cookie = client.cookies["reftrack_session"]
    # when
    response = client.delete("/v1/auth/session", headers=csrf(client))
    # then
    assert response.status_code == 204
    cleared = set_cookies(response.headers.multi_items())
    assert set(cleared) == {"reftrack_session", "reftrack_csrf"}
    assert all("max-age=0" in c for c in cleared.values())
    assert "reftrack_session" not in client.cookies
    assert client.get("/v1/users/me", headers={"Cookie": f"reftrack_session={cookie}"}).status_code == 401
    assert session.scalars(select(ApiSession).where(ApiSession.kind == "browser")).all() == []
    assert len(session.scalars(select(AuditLog).where(AuditLog.action == "session.signed_out")).all()) == 1
    assert client.get("/v1/users/me", headers=alice.headers).status_code == 200


def test_sign_out_without_the_csrf_token_is_refused(client: TestClient, alice: Account) -> None:
    # given
    client.post("/v1/auth/session", json={"token": alice.token})
    # when
    response = client.delete("/v1/auth/session")
    # then
    assert response.status_code == 403
    assert response.json()["error"] == "CsrfFailed"
    assert client.get("/v1/users/me").status_code == 200


def test_sign_out_without_a_session_only_clears_the_cookies(client: TestClient) -> None:
    # when
    response = client.delete("/v1/auth/session", headers={"Cookie": "reftrack_session=stale"})
    # then
    assert response.status_code == 204
    assert set(set_cookies(response.headers.multi_items())) == {"reftrack_session", "reftrack_csrf"}


def test_over_https_the_cookies_are_secure(
    session_factory: Callable[[], Session], local_storage: LocalStorage, alice: Account
) -> None:
    # given
    with make_client(session_factory, local_storage) as https:
        https.base_url = https.base_url.copy_with(scheme="https")
        # when
        response = https.post("/v1/auth/session", json={"token": alice.token})
    # then
    cookies = set_cookies(response.headers.multi_items())
    assert all("; secure" in c for c in cookies.values())


def test_session_rows_are_distinct_per_sign_in(
    client: TestClient, browser: TestClient, alice: Account, session: Session
) -> None:
    # when
    client.post("/v1/auth/session", json={"token": alice.token})
    browser.post("/v1/auth/session", json={"token": alice.token})
    # then
    rows = session.scalars(select(ApiSession).where(ApiSession.kind == "browser")).all()
    assert len({r.id for r in rows}) == 2
    assert all(isinstance(r.id, uuid.UUID) and r.user_id == alice.user.id for r in rows)
