"""Security headers on every response, errors included, and a CSP each page works with.

The API's own policy is the one the web app to come will be served with (same origin, no inline script, not
framed by other sites). ``/docs`` and ``/redoc`` load their assets from this origin only (no CDN, no inline
script), and their policy says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.app import app_csp, create_app, wrap
from service.config import Settings
from service.db import get_session, session_scope
from service.storage import LocalStorage, get_storage
from tests.fixtures.app import Account
from tests.fixtures.audio import sine, write_audio

BASE_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-frame-options": "SAMEORIGIN",
}


def _policy(header: str) -> dict[str, list[str]]:
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.fixture
def small_client(session_factory: Callable[[], Session], local_storage: LocalStorage) -> Iterator[TestClient]:
    """The app with a 1 KiB upload limit and one route that fails, to see the headers of every kind of answer."""
    app = create_app()

    def override_session() -> Iterator[Session]:
        with session_scope(session_factory) as s:
            yield s

    def broken() -> None:
        raise RuntimeError("unexpected")

    app.dependency_overrides[get_session] = override_session
    app.dependency_overrides[get_storage] = lambda: local_storage
    app.add_api_route("/broken", broken)
    with TestClient(wrap(app, max_bytes=1024)) as client:
        yield client


@pytest.fixture
def track_id(small_client: TestClient, alice: Account, tmp_path: Path) -> str:
    audio = write_audio(tmp_path / "t.wav", sine(freq_hz=440.0, seconds=0.001), 8000, "wav")
    with audio.open("rb") as fh:
        response = small_client.post("/v1/tracks", headers=alice.headers, files={"file": ("t.wav", fh)})
    assert response.status_code == 202, response.text
    track_id: str = response.json()["id"]
    return track_id


def test_every_kind_of_response_carries_the_security_headers(
    small_client: TestClient, alice: Account, track_id: str
) -> None:
    # given
    client = small_client
    me = alice.headers
    # when
    responses = {
        200: client.get(f"/v1/tracks/{track_id}", headers=me),
        206: client.get(f"/v1/tracks/{track_id}/audio", headers=me | {"Range": "bytes=0-9"}),
        401: client.get("/v1/tracks"),
        404: client.get("/v1/tracks/00000000-0000-4000-8000-000000000000", headers=me),
        413: client.post(
            "/v1/tracks", headers=me | {"Content-Type": "multipart/form-data; boundary=x"}, content=b"x" * (1 << 20)
        ),
        422: client.get("/v1/tracks?q=%00", headers=me),
        500: client.get("/broken"),
    }
    # then
    for status, response in responses.items():
        assert response.status_code == status, response.text
        for name, value in BASE_HEADERS.items():
            assert response.headers[name] == value, (status, name)
        assert response.headers["content-security-policy"] == app_csp(), status
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"]), status


def test_a_clients_request_id_is_echoed_and_a_malformed_one_replaced(small_client: TestClient) -> None:
    # when
    kept = small_client.get("/openapi.json", headers={"X-Request-ID": "edge-7f3a.1"})
    replaced = small_client.get("/openapi.json", headers={"X-Request-ID": "<script>"})
    # then
    assert kept.headers["x-request-id"] == "edge-7f3a.1"
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])


def test_the_app_policy_fits_a_same_origin_web_app_without_inline_script() -> None:
    # when
    policy = _policy(app_csp(Settings()))
    # then
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["media-src"] == ["'self'", "blob:"]


def test_with_object_storage_audio_may_play_from_its_origin() -> None:
    # given: playback is a redirect to a presigned URL of the bucket
    cfg = Settings(s3_bucket="music", s3_endpoint_url="https://acc.r2.cloudflarestorage.com/", s3_secret_access_key="k")
    # when
    policy = _policy(app_csp(cfg))
    # then
    assert policy["media-src"] == ["'self'", "blob:", "https://acc.r2.cloudflarestorage.com"]
    assert policy["script-src"] == ["'self'"]


def _references(html: str) -> list[str]:
    return re.findall(r'(?:src|href|spec-url|data-openapi-url)="([^"]+)"', html)


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        (
            "/docs",
            [
                "/docs/assets/favicon.png",
                "/docs/assets/swagger-ui.css",
                "/docs/assets/swagger-ui-bundle.js",
                "/docs/assets/swagger-init.js",
            ],
        ),
        ("/redoc", ["/docs/assets/favicon.png", "/docs/assets/redoc.standalone.js"]),
    ],
)
def test_the_documentation_pages_load_only_from_this_origin(page: str, assets: list[str]) -> None:
    # given
    with TestClient(create_app()) as client:
        response = client.get(page)
        # when
        served = {asset: client.get(asset) for asset in assets}
    html = response.text
    policy = _policy(response.headers["content-security-policy"])
    # then: no inline script, nothing from another origin, the OpenAPI document from here
    assert response.status_code == 200
    assert re.findall(r"<script>", html) == []
    assert re.findall(r"<style", html) == []
    assert "https://" not in html
    assert "http://" not in html
    assert sorted(r for r in _references(html) if r != "/openapi.json") == sorted(assets)
    assert "/openapi.json" in _references(html)
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["style-src"] == ["'self'", "'unsafe-inline'"]
    assert policy["frame-ancestors"] == ["'self'"]
    assert all("https:" not in source for sources in policy.values() for source in sources)
    # and: every asset is served, with its type
    for asset, answer in served.items():
        assert answer.status_code == 200, asset
        assert len(answer.content) > 0
        assert answer.headers["cache-control"] == "public, max-age=86400"
    kinds = {a.rsplit(".", 1)[1]: served[a].headers["content-type"] for a in assets}
    assert kinds.get("js", "text/javascript; charset=utf-8") == "text/javascript; charset=utf-8"
    assert kinds.get("png", "image/png") == "image/png"
    assert kinds.get("css", "text/css; charset=utf-8") == "text/css; charset=utf-8"


def test_swagger_ui_starts_from_a_file_without_the_validator_badge_and_sends_the_csrf_token() -> None:
    # when
    with TestClient(create_app()) as client:
        script = client.get("/docs/assets/swagger-init.js").text
    # then
    assert "url: root.dataset.openapiUrl" in script
    assert "validatorUrl: null" in script
    assert 'request.headers["X-CSRF-Token"] = decodeURIComponent(csrf[1]);' in script


def test_only_the_known_documentation_assets_are_served() -> None:
    # when
    with TestClient(create_app()) as client:
        unknown = client.get("/docs/assets/LICENSE")
        outside = client.get("/docs/assets/..%2F__init__.py")
    # then
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "NotFound", "detail": "no documentation asset 'LICENSE'"}
    assert outside.status_code == 404


def test_the_documentation_pages_honour_the_root_path() -> None:
    # when
    with TestClient(create_app(), root_path="/reftrack") as client:
        html = client.get("/docs").text
    # then
    assert 'data-openapi-url="/reftrack/openapi.json"' in html
    assert '<script src="/reftrack/docs/assets/swagger-ui-bundle.js">' in html
