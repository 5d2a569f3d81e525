"""Request-level guards every deployment runs, in front of the routes.

- :class:`ResponseHeaders`: a request id and the security headers on every response, errors included.
- :class:`CatchAll`: no exception leaves the application. An outage of storage or the database is a 503 with
  ``Retry-After``; anything else a 500 in the error shape, logged with the request id. The server then keeps
  the connection open, where an escaping exception made it drop the connection after the response.
- :class:`RequestGuard`: the checks that hold for every route, in one place. An API route is sent only the
  query parameters it declares (a misspelt one is a 422 naming it, not silently ignored). Query strings and JSON
  bodies carry no NUL character (PostgreSQL text cannot hold one), JSON bodies have no non-finite numbers, are at most
  ``MAX_JSON_DEPTH`` deep and at most ``max_json_bytes`` long, and a request with a body to a route that needs
  a user is authenticated before any of its body is read.
"""

from __future__ import annotations

import json
import logging
import math
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import (
    DatabaseUnavailable,
    InternalError,
    PayloadTooLarge,
    ServiceError,
    ServiceUnavailable,
    StorageUnavailable,
    ValidationError,
)
from service.faults import is_transient, is_transient_database, is_transient_storage

log = logging.getLogger(__name__)

__all__ = [
    "MAX_JSON_DEPTH",
    "RETRY_AFTER_S",
    "CatchAll",
    "GuardedRoute",
    "RequestGuard",
    "ResponseHeaders",
    "error_response",
    "json_error",
    "request_id",
    "unexpected_error_response",
]

# Seconds a client is asked to wait after a 503: long enough for a connection pool or a proxy to recover,
# short enough that an interactive client retrying once does not give up on a blip.
RETRY_AFTER_S = 5
# Levels of arrays and objects a JSON body may nest; the deepest schema needs 4, free-form metadata the rest.
MAX_JSON_DEPTH = 32

# Larger JSON bodies are checked off the event loop: a megabyte of small numbers takes a few hundred ms.
_CHECK_INLINE_BYTES = 64 * 1024
_REQUEST_ID_KEY = "reftrack.request_id"
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# NUL cannot be stored in PostgreSQL text; a lone surrogate cannot be encoded to UTF-8 at all.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# The web app will be served from the same origin at /: its own scripts, styles, images and media only, no
# inline script, never framed by another site.
APP_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:;"
    " connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self';"
    " frame-ancestors 'self'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "X-Frame-Options": "SAMEORIGIN",
}


def request_id(scope: Scope) -> str:
    """The id of this request: the client's ``X-Request-ID`` when it is a sane token, else a new one."""
    found = scope.get(_REQUEST_ID_KEY)
    if isinstance(found, str):
        return found
    sent = Headers(scope=scope).get("x-request-id", "")
    rid = sent if _CLIENT_REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex
    scope[_REQUEST_ID_KEY] = rid
    return rid


def json_error(
    status_code: int, error: str, detail: str, extra: dict[str, Any] | None = None, *, field: str | None = None
) -> JSONResponse:
    """The one error shape: ``{"error", "detail", "field"?, "extra"?}``."""
    body: dict[str, Any] = {"error": error, "detail": detail}
    if field:
        body["field"] = field
    if extra:
        body["extra"] = extra
    return JSONResponse(status_code=status_code, content=body)


def error_response(exc: ServiceError) -> JSONResponse:
    """``exc`` in the one error shape, with its headers (``Retry-After`` added to every 503)."""
    response = json_error(exc.status_code, type(exc).__name__, exc.message, exc.extra or None, field=exc.field)
    response.headers.update(exc.headers or {})
    if exc.status_code == 503 and "retry-after" not in response.headers:
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def unexpected_error_response(scope: Scope, exc: BaseException) -> JSONResponse:
    """The answer to an exception no handler expected: 503 for an outage, else 500 without details. Logs it."""
    rid = request_id(scope)
    where = {"request_id": rid, "method": scope.get("method"), "path": scope.get("path")}
    error: ServiceError
    if is_transient_storage(exc):
        error = StorageUnavailable("object storage is unavailable; retry later")
    elif is_transient_database(exc):
        error = DatabaseUnavailable("the database is unavailable; retry later")
    elif is_transient(exc):
        error = ServiceUnavailable("a service this request needs is unavailable; retry later")
    else:
        error = InternalError(f"unexpected error; it was logged as request {rid}")
    if not getattr(exc, "_reftrack_logged", False):
        if error.status_code == 503:
            log.warning("request.unavailable", extra=where | {"error": f"{type(exc).__name__}: {exc}"})
        else:
            log.error("request.failed", extra=where, exc_info=exc)
        try:
            exc._reftrack_logged = True  # type: ignore[attr-defined]
        except AttributeError:  # pragma: no cover - exceptions with __slots__
            pass
    return error_response(error)


class ResponseHeaders:
    """Add ``X-Request-ID`` and the security headers to every response; a route may set its own CSP."""

    def __init__(self, app: ASGIApp, *, csp: str = APP_CSP) -> None:
        self.app = app
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = self.csp
                headers["X-Request-ID"] = rid
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CatchAll:
    """Answer any exception that reaches here, so the server never sees one (it would drop the connection)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            # Starlette answers and then re-raises, for servers to log: the error handler has logged it already.
            response = unexpected_error_response(scope, exc)
            if not started:
                await response(scope, receive, send)


@dataclass(frozen=True)
class GuardedRoute:
    """What the guard needs to know of a route: how to match it, and which checks apply."""

    matches: Callable[[Scope], tuple[Match, Scope]]
    needs_user: bool
    json_body: bool
    # The query parameters the route declares; any other is refused. None: the route takes whatever it is sent.
    query_names: frozenset[str] | None = None


class _BodyProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class _NonFinite:
    def __init__(self, name: str) -> None:
        self.name = name


def _field(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path) or "body"


def _walk(value: Any) -> Iterator[tuple[Any, tuple[str | int, ...], int]]:
    """Every value of a parsed JSON document in document order, with its path and nesting depth."""
    stack: list[tuple[Any, tuple[str | int, ...], int]] = [(value, (), 0)]
    while stack:
        item, path, depth = stack.pop()
        yield item, path, depth
        if isinstance(item, dict):
            stack.extend((v, (*path, k), depth + 1) for k, v in reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((v, (*path, i), depth + 1) for i, v in reversed(list(enumerate(item))))


def check_json_body(body: bytes) -> None:
    """Raise ``_BodyProblem`` for a body that is not JSON the service can store and serialise."""
    try:
        document = json.loads(body, parse_constant=_NonFinite)
    except RecursionError:
        raise _BodyProblem("body", f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError alike
        raise _BodyProblem("body", "not valid JSON") from None
    for item, path, depth in _walk(document):
        field = _field(path)
        if depth >= MAX_JSON_DEPTH and isinstance(item, dict | list):
            raise _BodyProblem(field, f"nested deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, _NonFinite) or (isinstance(item, float) and not math.isfinite(item)):
            shown = item.name if isinstance(item, _NonFinite) else repr(item)
            raise _BodyProblem(field, f"must be a finite number, not {shown}")
        if isinstance(item, str) and _UNSTORABLE.search(item):
            raise _BodyProblem(field, _unstorable_message(item))
        if isinstance(item, dict):
            for key in item:
                if _UNSTORABLE.search(key):
                    raise _BodyProblem(field, f"keys {_unstorable_message(key)}")


def _unstorable_message(text: str) -> str:
    if "\x00" in text:
        return "must not contain NUL characters"
    return "must be valid Unicode text (no lone surrogates)"


def _declares_body(headers: Headers) -> bool:
    length = headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in headers


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    main, _, sub = media_type.partition("/")
    return main == "application" and (sub == "json" or sub.endswith("+json"))


class RequestGuard:
    """Checks that hold for every route, made before a route sees the request (see the module docstring).

    ``routes`` is called once, on the first request, so routes added after the app is built are covered;
    ``authenticate`` raises a ``ServiceError`` (401, 403) for a request whose credentials are not valid.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        routes: Callable[[], list[GuardedRoute]],
        authenticate: Callable[[Request], Awaitable[None]],
        max_json_bytes: int,
    ) -> None:
        self.app = app
        self._routes_factory = routes
        self._routes: list[GuardedRoute] | None = None
        self.authenticate = authenticate
        self.max_json_bytes = max_json_bytes

    def _route(self, scope: Scope) -> GuardedRoute | None:
        if self._routes is None:
            self._routes = self._routes_factory()
        for route in self._routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return route
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            receive = await self._check(scope, receive)
        except ServiceError as exc:
            await error_response(exc)(scope, receive, send)
            return
        except _Disconnected:
            return
        await self.app(scope, receive, send)

    async def _check(self, scope: Scope, receive: Receive) -> Receive:
        """Refuse the request with a ``ServiceError``, or return the ``receive`` the route is to read from."""
        _check_query(scope)
        route = self._route(scope)
        if route is None:
            return receive
        if route.query_names is not None:
            _check_query_names(scope, route.query_names)
        headers = Headers(scope=scope)
        if route.needs_user and _declares_body(headers):
            # Before a byte of the body is read: an anonymous client cannot make the server buffer anything.
            await self.authenticate(Request(scope))
        if not route.json_body:
            return receive
        body = await self._read_body(headers, receive)
        if body and _is_json(headers.get("content-type", "")):
            try:
                if len(body) > _CHECK_INLINE_BYTES:
                    await run_in_threadpool(check_json_body, body)
                else:
                    check_json_body(body)
            except _BodyProblem as problem:
                raise ValidationError(f"{problem.field}: {problem.message}", field=problem.field) from None
        return _replay(body, receive)

    async def _read_body(self, headers: Headers, receive: Receive) -> bytes:
        limit = self.max_json_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"request body exceeds the {limit} byte limit of JSON bodies")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"request body exceeds the {limit} byte limit of JSON bodies")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


class _Disconnected(Exception):
    pass


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body over once, then defers to the server's."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _check_query(scope: Scope) -> None:
    if "\x00" in scope.get("path", ""):
        raise ValidationError("path: must not contain NUL characters", field="path")
    query = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            shown = name.replace("\x00", "\\x00")
            raise ValidationError(f"{shown}: must not contain NUL characters", field=shown)


def _check_query_names(scope: Scope, known: frozenset[str]) -> None:
    """Refuse a query parameter the route does not take: a misspelt filter must not be silently ignored."""
    query = scope.get("query_string", b"").decode("latin-1")
    for name, _ in parse_qsl(query, keep_blank_values=True):
        if name not in known:
            takes = f"it takes {', '.join(sorted(known))}" if known else "it takes none"
            raise ValidationError(f"{name}: unknown query parameter; {takes}", field=name)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, for a CSP source list."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
