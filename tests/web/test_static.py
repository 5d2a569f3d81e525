"""The web app's files as the service serves them: index at ``/``, assets under ``/app/``, with their headers."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from service.middleware import APP_CSP
from service.web.endpoints import STATIC_DIR, app_version

VERSIONED_ASSET = re.compile(r'"/app/([0-9a-f]{16})/([a-z]+\.(?:js|css|svg))"')


def test_index_refers_to_versioned_assets_under_a_strict_policy(client: TestClient) -> None:
    # given the service
    # when the browser opens the root
    response = client.get("/")

    # then it gets the app's page, revalidated on every visit, under the app's content security policy
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["content-security-policy"] == APP_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assets = VERSIONED_ASSET.findall(response.text)
    assert sorted(name for _, name in assets) == ["app.css", "icon.svg", "main.js"]
    assert {version for version, _ in assets} == {app_version()}


def test_policy_allows_nothing_inline_and_nothing_from_elsewhere() -> None:
    # given the policy the app is served with
    directives = dict(d.split(" ", 1) for d in APP_CSP.split("; "))

    # then scripts, styles and connections come from the service alone
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'self'"
    assert "unsafe-inline" not in APP_CSP


def test_the_app_has_no_inline_script_or_style() -> None:
    # given every HTML file of the app
    pages = list(STATIC_DIR.rglob("*.html"))

    # then none holds a script body, a style element or a style attribute (the policy would block them)
    assert [p.name for p in pages] == ["index.html"]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
        assert "<style" not in html
        assert re.findall(r"\sstyle=", html) == []
        assert re.findall(r"\son[a-z]+=", html) == []


def test_versioned_assets_are_cached_for_a_year(client: TestClient) -> None:
    # given the asset URL the page uses
    url = f"/app/{app_version()}/main.js"

    # when it is fetched
    response = client.get(url)

    # then it is the module, cached as immutable
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.content == (STATIC_DIR / "app" / "main.js").read_bytes()


def test_unversioned_and_stale_asset_urls_are_revalidated(client: TestClient) -> None:
    # given an asset asked for without a version, and with a version that is not the current one
    plain = client.get("/app/app.css")
    stale = client.get("/app/0000000000000000/app.css")

    # then the first is served but revalidated, the second is not an asset at all
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "text/css; charset=utf-8"
    assert plain.headers["cache-control"] == "no-cache"
    assert stale.status_code == 404


def test_paths_outside_the_app_are_not_served(client: TestClient) -> None:
    # given paths that climb out of the app's folder, or name nothing
    paths = ("/app/%2e%2e/%2e%2e/web/endpoints.py", "/app/..%2F..%2Fweb%2Fendpoints.py", "/app/missing.js", "/app/")
    for path in paths:
        # when they are asked for
        response = client.get(path)

        # then they are 404 in the API's error shape
        assert response.status_code == 404, path
        assert response.json()["error"] == "NotFound", path


def test_the_api_is_unaffected(client: TestClient) -> None:
    # given the web router beside the API
    # when an API path is asked for without credentials
    response = client.get("/v1/users/me")

    # then the API answers as before
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
