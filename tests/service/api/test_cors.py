"""CORS: preflights answered and responses readable for the configured origins only, with credentials."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session

from service.config import Settings
from service.storage import LocalStorage
from tests.fixtures.app import Account, make_client

APP_ORIGIN = "http://localhost:5173"


def cors_client(session_factory: Callable[[], Session], storage: LocalStorage, origins: list[str]) -> TestClient:
    return make_client(session_factory, storage, max_upload_bytes=1 << 20, cors_origins=origins)


@pytest.fixture
def allowed(session_factory: Callable[[], Session], local_storage: LocalStorage) -> Iterator[TestClient]:
    with cors_client(session_factory, local_storage, [APP_ORIGIN]) as c:
        yield c


def preflight(
    client: TestClient, origin: str, method: str = "PATCH", headers: str = "content-type,x-csrf-token"
) -> httpx.Response:
    return client.options(
        "/v1/tracks/5654690e-b47d-4363-8e04-e509c560724b",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": headers,
        },
    )


def test_a_preflight_from_a_listed_origin_is_answered_with_credentials(allowed: TestClient) -> None:
    # when
    response = preflight(allowed, APP_ORIGIN)
    # then
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, POST, PUT, PATCH, DELETE"
    allowed_headers = {h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "x-csrf-token", "range", "if-none-match"} <= allowed_headers
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["x-request-id"]


@pytest.mark.parametrize("origin", ["http://evil.example", "http://localhost:5174", "https://localhost:5173"])
def test_a_preflight_from_another_origin_gets_no_cors_header(allowed: TestClient, origin: str) -> None:
    # when
    response = preflight(allowed, origin)
    # then
    assert response.status_code == 400
    assert not [name for name in response.headers if name.lower().startswith("access-control-allow-origin")]


def test_a_preflight_for_a_header_not_allowed_is_refused(allowed: TestClient) -> None:
    # when
    response = preflight(allowed, APP_ORIGIN, headers="x-secret")
    # then
    assert response.status_code == 400


def test_no_origin_is_allowed_by_default(client: TestClient) -> None:
    # when
    response = preflight(client, APP_ORIGIN)
    # then
    assert response.status_code == 405
    assert not [name for name in response.headers if name.lower().startswith("access-control-")]


def test_a_listed_origin_reads_responses_and_their_headers(allowed: TestClient, alice: Account) -> None:
    # when
    response = allowed.get("/v1/users/me", headers={**alice.headers, "Origin": APP_ORIGIN})
    # then
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN
    assert response.headers["access-control-allow-credentials"] == "true"
    exposed = {h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")}
    assert {"x-request-id", "etag", "content-range", "retry-after", "x-duplicate-of"} <= exposed
    assert "origin" in response.headers["vary"].lower()


def test_a_listed_origin_reads_error_answers_too(allowed: TestClient) -> None:
    # when
    response = allowed.get("/v1/users/me", headers={"Origin": APP_ORIGIN})
    # then
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == APP_ORIGIN


def test_another_origin_cannot_read_responses(allowed: TestClient, alice: Account) -> None:
    # when
    response = allowed.get("/v1/users/me", headers={**alice.headers, "Origin": "http://evil.example"})
    # then
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_origins_are_read_from_the_environment_as_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.setenv("REFTRACK_CORS_ORIGINS", '["http://localhost:5173", "HTTPS://App.Example.com/"]')
    # when
    cfg = Settings(_env_file=None)
    # then
    assert cfg.cors_origins == ["http://localhost:5173", "https://app.example.com"]


def test_the_default_is_no_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    # given
    monkeypatch.delenv("REFTRACK_CORS_ORIGINS", raising=False)
    # when
    cfg = Settings(_env_file=None)
    # then
    assert cfg.cors_origins == []


@pytest.mark.parametrize(
    ("origin", "message"),
    [
        ("*", "'*' is not allowed"),
        ("localhost:5173", "is not an origin"),
        ("http://localhost:5173/app", "is not an origin"),
        ("ftp://files.example", "is not an origin"),
    ],
)
def test_a_value_that_is_not_an_origin_is_refused(origin: str, message: str) -> None:
    # when
    with pytest.raises(ValidationError) as raised:
        Settings(_env_file=None, cors_origins=[origin])
    # then
    assert "REFTRACK_CORS_ORIGINS" in str(raised.value)
    assert message in str(raised.value)
