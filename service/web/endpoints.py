"""Serve the web app from the package: ``/`` is index.html, ``/app/<path>`` its assets.

The app's Content-Security-Policy and other security headers are the ones every response gets
(``service.middleware.ResponseHeaders``): no inline script or style, nothing from another origin.

There is no build step, so assets carry no hash in their names. Instead index.html refers to them under
``/app/<version>/``, where ``<version>`` is a digest of every file of the app: such a URL never changes its
content and is cached for a year, while ``/`` and unversioned asset URLs are revalidated on every use.
"""

from __future__ import annotations

import hashlib
import mimetypes
from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from service.errors import NotFound

STATIC_DIR = Path(__file__).parent / "static"
ASSET_PREFIX = "/app/"

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".html": "text/html"}

router = APIRouter(include_in_schema=False)


@cache
def app_version() -> str:
    """A digest of every file of the app: it changes whenever one of them does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in STATIC_DIR.rglob("*") if p.is_file()):
        digest.update(path.relative_to(STATIC_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@cache
def _index_html() -> str:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return html.replace(f'"{ASSET_PREFIX}', f'"{ASSET_PREFIX}{app_version()}/')


def _asset(relative: str) -> Path | None:
    """The file of the app at ``relative``, or None when there is none (or the path leaves the app's folder)."""
    root = (STATIC_DIR / "app").resolve()
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
def index() -> HTMLResponse:
    return HTMLResponse(_index_html(), headers={"Cache-Control": REVALIDATE})


@router.api_route("/app/{path:path}", methods=["GET", "HEAD"])
def asset(path: str) -> Response:
    first, _, rest = path.partition("/")
    versioned = first == app_version()
    target = _asset(rest if versioned else path)
    if target is None:
        raise NotFound(f"no such file of the app: {path}")
    media_type = _TYPES.get(target.suffix) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    cache_control = IMMUTABLE if versioned else REVALIDATE
    return Response(target.read_bytes(), media_type=media_type, headers={"Cache-Control": cache_control})
