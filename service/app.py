"""The FastAPI application."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, HTTPException, Request, params
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import _get_flat_fields_from_params
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_fields_from_routes, get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.analysis_run.endpoints import router as analysis_router
from service.annotation.endpoints import router as annotation_router
from service.config import Settings, settings
from service.db import database, get_session, mark_read_only, reset_read_only
from service.errors import NotFound, ServiceError
from service.library.endpoints import admin_router as admin_track_router
from service.library.endpoints import router as track_router
from service.library_import.endpoints import router as import_router
from service.listening_prompt.endpoints import router as prompt_router
from service.middleware import (
    APP_CSP,
    CatchAll,
    GuardedRoute,
    RequestGuard,
    ResponseHeaders,
    error_response,
    json_error,
    origin_of,
    unexpected_error_response,
)
from service.queue import check_broker
from service.reference.endpoints import router as reference_router
from service.schemas import DEGRADED_EXAMPLE, HEALTHY_EXAMPLE, ErrorRead, HealthRead
from service.storage import get_storage
from service.user.auth import bearer_credentials, current_user, session_cookie
from service.user.endpoints import router as user_router
from service.web.endpoints import router as web_router

log = logging.getLogger(__name__)

# Multipart framing (boundaries, part headers, small form fields) on top of the file itself.
_MULTIPART_SLACK = 64 * 1024


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body exceeds the {limit} byte upload limit")


class BodySizeLimit:
    """Refuse bodies over the limit: at once from Content-Length, or while streaming when it is absent."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes + _MULTIPART_SLACK
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = json_error(
                413, "PayloadTooLarge", f"request body exceeds the {self.max_bytes} byte upload limit"
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)


def create_app(*, max_json_bytes: int | None = None) -> FastAPI:
    app = FastAPI(
        title="reftrack",
        version="0.1.0",
        summary="Audio reference-track analysis: tempo, beats, key, loudness, waveforms.",
        # Served below, each with a Content-Security-Policy that allows exactly what the page loads.
        docs_url=None,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )

    @app.exception_handler(ServiceError)
    async def service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        return unexpected_error_response(request.scope, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and str(exc.detail).startswith("There was an error parsing the body"):
            # A body that is not valid JSON is invalid input like any other: one status, one shape.
            return json_error(422, "ValidationError", "body: not valid JSON", field="body")
        name = "PayloadTooLarge" if exc.status_code == 413 else "HTTPError"
        return json_error(exc.status_code, name, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        if any(e["type"] == "json_invalid" for e in errors):
            # FastAPI puts the character offset where a field name goes ("loc": ["body", 10]).
            return json_error(422, "ValidationError", "body: not valid JSON", field="body")
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        loc = first["loc"]
        field = ".".join(str(p) for p in loc[1:]) or (str(loc[0]) if loc else "request")
        return json_error(422, "ValidationError", f"{field}: {first['msg']}", {"errors": errors}, field=field)

    for router in (
        user_router,
        admin_track_router,
        track_router,
        analysis_router,
        annotation_router,
        reference_router,
        prompt_router,
        import_router,
        web_router,
    ):
        app.include_router(router)
    _use_one_error_shape_in_openapi(app)
    _serve_docs(app)
    _guard(app, max_json_bytes=max_json_bytes or settings.max_json_bytes)

    @app.get(
        "/healthz",
        tags=["health"],
        response_model=HealthRead,
        responses={
            200: {
                "description": "Every dependency answers",
                "content": {"application/json": {"example": HEALTHY_EXAMPLE}},
            },
            503: {
                "model": HealthRead,
                "description": "A dependency does not answer",
                "content": {"application/json": {"example": DEGRADED_EXAMPLE}},
            },
        },
    )
    def healthz() -> JSONResponse:
        """Database, storage and broker, each checked."""
        checks: dict[str, str] = {}
        try:
            with database.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = _unhealthy("database", exc)
        try:
            get_storage().check()
            checks["storage"] = "ok"
        except Exception as exc:
            checks["storage"] = _unhealthy("storage", exc)
        try:
            check_broker()
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = _unhealthy("broker", exc)
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse(
            status_code=200 if healthy else 503, content={"status": "ok" if healthy else "degraded", "checks": checks}
        )

    return app


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


# Routes whose query parameters are checked against their declaration: the API, and the sign-in link.
_STRICT_QUERY_PREFIXES = ("/v1/", "/auth/")


def _query_names(dependant: Dependant) -> frozenset[str]:
    """The names of the query parameters a route takes, its dependencies' and query models' included."""
    fields = []
    pending = [dependant]
    while pending:
        current = pending.pop()
        fields.extend(current.query_params)
        pending.extend(current.dependencies)
    return frozenset(field.alias for field in _get_flat_fields_from_params(fields))


def _guarded_routes(app: FastAPI) -> list[GuardedRoute]:
    """Every API route, as the app matches it (routers included with their prefixes)."""
    guarded = []
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        dependant: Dependant = route.dependant
        body = route.body_field
        strict = (route.path or "").startswith(_STRICT_QUERY_PREFIXES)
        guarded.append(
            GuardedRoute(
                matches=route.matches,
                needs_user=_depends_on(dependant, current_user),
                json_body=body is not None and not isinstance(body.field_info, params.Form),
                query_names=_query_names(dependant) if strict else None,
            )
        )
    return guarded


def _guard(app: FastAPI, *, max_json_bytes: int) -> None:
    """Run the request-level checks of ``RequestGuard`` inside the app, with its routes and its sessions."""

    async def authenticate(request: Request) -> None:
        credentials = await bearer_credentials(request)
        # The session the routes get, test overrides included.
        provider: Callable[[], Iterator[Session]] = app.dependency_overrides.get(get_session, get_session)

        def check() -> None:
            with contextmanager(provider)() as session:
                current_user(request, session, credentials, session_cookie(request))

        await run_in_threadpool(check)

    app.add_middleware(
        RequestGuard,
        routes=lambda: _guarded_routes(app),
        authenticate=authenticate,
        max_json_bytes=max_json_bytes,
    )


# Swagger UI and ReDoc, from a package that ships their distribution builds (no CDN: the pages work offline).
_DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
_DOCS_ASSETS_PATH = "/docs/assets"
_DOCS_ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
# Swagger UI's start-up, served as a file so the page needs no inline script. Same-origin requests carry the
# browser's session cookie, so a signed-in user can try requests; writes get the CSRF header the API asks for.
_SWAGGER_INIT_JS = """\
"use strict";
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
    requestInterceptor: function (request) {
      var csrf = document.cookie.match(/(?:^|;\\s*)reftrack_csrf=([^;]+)/);
      if (csrf && !request.headers["X-CSRF-Token"]) {
        request.headers["X-CSRF-Token"] = decodeURIComponent(csrf[1]);
      }
      return request;
    },
  });
});
"""
# Both pages load only from this origin. Both UIs set inline styles, Swagger UI draws icons as data: images,
# and ReDoc runs its search index in a worker made from a blob.
DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:;"
    " font-src 'self'; connect-src 'self'; worker-src blob:; base-uri 'none'; form-action 'none';"
    " frame-ancestors 'self'"
)

_SWAGGER_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""

_REDOC_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="{openapi_url}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


def _serve_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), with their assets served from ``/docs/assets``."""

    def page(template: str, request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        html = template.format(
            title=escape(app.title),
            assets=escape(f"{root}{_DOCS_ASSETS_PATH}"),
            openapi_url=escape(f"{root}{app.openapi_url}"),
        )
        return HTMLResponse(html, headers={"Content-Security-Policy": DOCS_CSP})

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return page(_SWAGGER_HTML, request)

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        return page(_REDOC_HTML, request)

    @app.get(f"{_DOCS_ASSETS_PATH}/{{name}}", include_in_schema=False)
    async def docs_asset(name: str) -> Response:
        cache = {"Cache-Control": "public, max-age=86400", "Content-Security-Policy": DOCS_CSP}
        if name == "swagger-init.js":
            return Response(_SWAGGER_INIT_JS, media_type="text/javascript; charset=utf-8", headers=cache)
        media_type = _DOCS_ASSET_TYPES.get(name)
        if media_type is None:
            raise NotFound(f"no documentation asset {name!r}")
        return FileResponse(_DOCS_ASSETS_DIR / name, media_type=media_type, headers=cache)


def _unhealthy(dependency: str, exc: Exception) -> str:
    # The endpoint needs no login: say which kind of failure, keep hosts and credentials for the log.
    log.warning("healthz.failed", extra={"dependency": dependency, "error": str(exc)})
    return f"error: {type(exc).__name__}"


def _use_one_error_shape_in_openapi(app: FastAPI) -> None:
    """Document validation errors (422) with the error shape the handler really returns, not FastAPI's default."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, description=app.description, routes=app.routes
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        components.setdefault("ErrorRead", ErrorRead.model_json_schema(ref_template="#/components/schemas/{model}"))
        _restore_nulls_in_examples(app, schema)
        error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorRead"}}}
        for path, path_item in schema.get("paths", {}).items():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                response = responses.get("422")
                if response is not None:
                    response["content"] = error_content
                    if response.get("description") == "Validation Error":
                        response["description"] = _INVALID_INPUT
                if path != "/healthz":
                    _document_guard_answers(operation, error_content)
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]


_INVALID_INPUT = "Invalid input; `field` names the offending parameter or field"


def _document_guard_answers(operation: dict[str, Any], error_content: dict[str, Any]) -> None:
    """The answers any operation may give besides its own: the request-level checks, an outage, a failure."""
    responses = operation["responses"]
    responses.setdefault("422", {"description": _INVALID_INPUT, "content": error_content})
    if "application/json" in operation.get("requestBody", {}).get("content", {}):
        responses.setdefault(
            "413", {"description": "The body exceeds the limit of JSON bodies", "content": error_content}
        )
    unavailable = responses.setdefault(
        "503",
        {
            "description": "Object storage or the database is unavailable: retry after `Retry-After` seconds",
            "content": error_content,
        },
    )
    unavailable["headers"] = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
    responses.setdefault(
        "500",
        {"description": "An unexpected error, logged with the request id (`X-Request-ID`)", "content": error_content},
    )


def _without_nulls(value: Any) -> Any:
    """``value`` as FastAPI renders it into the document: every null dictionary value left out."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_nulls(v) for v in value]
    return value


def _restore_nulls_in_examples(app: FastAPI, schema: dict[str, Any]) -> None:
    """Put back the nulls FastAPI drops from the examples of models when it renders the document.

    Without them a required nullable field is missing from an example, which then fails its own schema
    (fastapi/fastapi#5559). An example is replaced only when it is the declared one with its nulls left out.
    """
    components = schema.get("components", {}).get("schemas", {})
    seen: set[Any] = set()
    for field in get_fields_from_routes(app.routes):
        annotation = field.field_info.annotation
        if annotation is None or annotation in seen:
            continue
        seen.add(annotation)
        generated = TypeAdapter(annotation).json_schema(ref_template="#/components/schemas/{model}")
        definitions = generated.pop("$defs", {})
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            definitions[annotation.__name__] = generated
        for name, definition in definitions.items():
            rendered = components.get(name, {})
            declared = definition.get("examples")
            if declared and rendered.get("examples") == _without_nulls(declared):
                rendered["examples"] = copy.deepcopy(declared)


class CompressJSON:
    """Gzip responses for clients that accept it, except audio: a Range reply must stay byte-addressable."""

    def __init__(self, app: ASGIApp, *, minimum_size: int = 1024) -> None:
        self.app = app
        # Level 5: about a third of the CPU of the default 9 for a few percent larger bodies.
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=5)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("path", "").endswith(("/audio", "/audio/signed")):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class RequestGate:
    """Let at most ``limit`` requests run their handlers at once, and mark GET/HEAD transactions read-only.

    Sync handlers and their dependencies run in a thread pool (40 threads) and hold a database connection from
    the first query to the end of the request, across several thread hops. With more requests in flight than
    connections, threads block waiting for a connection while the requests that hold one wait for a thread:
    a deadlock. Requests beyond the pool's capacity therefore wait here, holding nothing; a slot is freed as
    soon as the response starts (the request's session is closed by then), so streaming a long body does not
    hold one. Uploads skip the gate: most of their time is receiving the body, with no connection held.
    """

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = mark_read_only(scope["method"] in ("GET", "HEAD"))
        try:
            content_type = dict(scope.get("headers") or []).get(b"content-type", b"")
            if content_type.startswith(b"multipart/"):
                await self.app(scope, receive, send)
                return
            if self._slots is None:
                self._slots = asyncio.Semaphore(self.limit)
            slots = self._slots
            await slots.acquire()
            held = True

            def release() -> None:
                nonlocal held
                if held:
                    held = False
                    slots.release()

            async def send_and_release(message: Message) -> None:
                if message["type"] == "http.response.start":
                    release()
                await send(message)

            try:
                await self.app(scope, receive, send_and_release)
            finally:
                release()
        finally:
            reset_read_only(token)


def app_csp(cfg: Settings = settings) -> str:
    """The web app's policy, with the object storage origin audio playback is redirected to (S3, R2)."""
    if not cfg.uses_s3:
        return APP_CSP
    storage = origin_of(cfg.s3_endpoint_url) if cfg.s3_endpoint_url else "https://*.amazonaws.com"
    return APP_CSP.replace("media-src 'self' blob:", f"media-src 'self' blob: {storage}")


# What a browser on another origin may send and read (preflight answers are cached by the browser this long).
CORS_ALLOW_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
CORS_ALLOW_HEADERS = ["Authorization", "Content-Type", "X-CSRF-Token", "X-Request-ID", "Range", "If-None-Match"]
CORS_EXPOSE_HEADERS = [
    "X-Request-ID",
    "ETag",
    "Location",
    "Retry-After",
    "Content-Range",
    "Accept-Ranges",
    "Content-Length",
    "Content-Disposition",
    "X-Duplicate-Of",
]
CORS_MAX_AGE_S = 600


def cors(app: ASGIApp, origins: list[str]) -> ASGIApp:
    """Answer preflights and add CORS headers for ``origins`` only (with credentials); nothing when empty."""
    if not origins:
        return app
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_credentials=True,
        allow_methods=CORS_ALLOW_METHODS,
        allow_headers=CORS_ALLOW_HEADERS,
        expose_headers=CORS_EXPOSE_HEADERS,
        max_age=CORS_MAX_AGE_S,
    )


def wrap(
    app: ASGIApp, *, max_bytes: int, concurrency: int | None = None, cors_origins: list[str] | None = None
) -> ASGIApp:
    """The middleware every deployment runs: response headers outermost, then CORS (so errors and the
    last-resort answer carry its headers too), the last-resort error answer, the body size limit, compression
    and the gate."""
    gated = RequestGate(app, limit=concurrency or database.capacity)
    inner = CatchAll(BodySizeLimit(CompressJSON(gated), max_bytes=max_bytes))
    origins = settings.cors_origins if cors_origins is None else cors_origins
    return ResponseHeaders(cors(inner, origins), csp=app_csp())


def create_asgi_app() -> ASGIApp:
    return wrap(create_app(), max_bytes=settings.max_upload_bytes)
