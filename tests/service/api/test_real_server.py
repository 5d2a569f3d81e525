"""Behaviour only a real server shows: bodies refused before they are read, and connections that survive a 500.

``reftrack``'s production app (``create_asgi_app``) runs under uvicorn in its own process for the body tests,
so its memory can be measured; the keep-alive test runs uvicorn in a thread, with one extra route that fails.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from sqlalchemy.orm import sessionmaker

from service.app import wrap
from service.db import build_engine, session_scope
from service.migrate import migrate
from service.storage import LocalStorage
from service.user.service import user as user_service
from tests.fixtures.app import build_app, serve_in_thread
from tests.fixtures.database import create_postgres_database, drop_postgres_database, skip_without_postgres
from tests.fixtures.services import serving_process
from tests.fixtures.storage import free_port
from tests.service.api.http_client import read_response, request_bytes, send_slowly

_UVICORN = [sys.executable, "-m", "uvicorn", "service.app:create_asgi_app", "--factory"]
HUGE = 200 * 1024 * 1024
CHUNK = b"x" * (256 * 1024)
# What the server may grow by while a client pushes bodies at it: a few socket buffers, never the bodies.
RSS_SLACK = 24 * 1024 * 1024


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'api.db'}"
        migrate(url)
        yield url
        return
    skip_without_postgres()
    url = create_postgres_database()
    try:
        migrate(url)
        yield url
    finally:
        drop_postgres_database(url)


def _issue_token(url: str) -> str:
    engine = build_engine(url)
    try:
        with session_scope(sessionmaker(bind=engine, expire_on_commit=False)) as s:
            return user_service.issue_token(s, user=user_service.create(s, email="owner@example.com")).token
    finally:
        engine.dispose()


@dataclass(frozen=True)
class Served:
    port: int
    pid: int
    token: str

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[Served]:
    """The production ASGI app under uvicorn, in its own process, on the given database."""
    token = _issue_token(database_url)
    port = free_port()
    env = {
        **os.environ,
        "REFTRACK_DATABASE_URL": database_url,
        "REFTRACK_DATA_DIR": str(tmp_path / "data"),
        "REFTRACK_ENVIRONMENT": "test",
    }
    argv = [*_UVICORN, "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    with serving_process(argv, port=port, env=env, log_path=tmp_path / "uvicorn.log", what="uvicorn") as proc:
        yield Served(port=port, pid=proc.pid, token=token)


def _head(method: str, path: str, headers: dict[str, str], *, length: int | None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


_TRACK = f"/v1/tracks/{uuid.uuid4()}"
_JSON = {"Content-Type": "application/json"}
_MULTIPART = {"Content-Type": "multipart/form-data; boundary=xyz"}


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("PATCH", _TRACK, _JSON),
        ("PATCH", _TRACK, _JSON | {"Authorization": "Bearer not-a-token"}),
        ("POST", "/v1/tracks", _MULTIPART),
        ("POST", "/v1/tracks", _MULTIPART | {"Authorization": "Bearer not-a-token"}),
        ("POST", "/v1/imports", _JSON),
    ],
)
def test_a_body_without_valid_credentials_gets_its_401_before_it_is_sent(
    served: Served, method: str, path: str, headers: dict[str, str]
) -> None:
    # given
    before = served.rss()
    # when: a 200 MB body, sent slowly
    with served.connect() as sock:
        result = send_slowly(sock, _head(method, path, headers, length=HUGE), total=HUGE, chunk=CHUNK)
    # then: the answer came while the body was still being sent, and nothing of it was buffered
    assert result.response is not None
    assert result.response.status == 401
    assert json.loads(result.response.body)["error"] == "Unauthorized"
    assert result.sent < 16 * 1024 * 1024
    assert served.rss() - before < RSS_SLACK


def test_an_authenticated_json_body_over_its_limit_is_refused_before_it_is_sent(served: Served) -> None:
    # given
    before = served.rss()
    headers = _JSON | {"Authorization": f"Bearer {served.token}"}
    # when: Content-Length says 200 MB
    with served.connect() as sock:
        declared = send_slowly(sock, _head("PATCH", _TRACK, headers, length=HUGE), total=HUGE, chunk=CHUNK)
    # and: no Content-Length, 200 MB in chunks of the chunked encoding
    framed = f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n"
    with served.connect() as sock:
        chunked = send_slowly(sock, _head("PATCH", _TRACK, headers, length=None), total=HUGE, chunk=framed)
    # then
    for result in (declared, chunked):
        assert result.response is not None
        assert result.response.status == 413
        assert json.loads(result.response.body)["error"] == "PayloadTooLarge"
        assert result.sent < 16 * 1024 * 1024
    assert served.rss() - before < RSS_SLACK


@pytest.fixture
def failing_server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """uvicorn in a thread, serving the app plus one route that raises what no handler expects."""
    url = f"sqlite:///{tmp_path / 'keepalive.db'}"
    migrate(url)
    engine = build_engine(url)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with session_scope(factory) as s:
        token = user_service.issue_token(s, user=user_service.create(s, email="keep@example.com")).token
    app = build_app(factory, LocalStorage(tmp_path / "objects"))

    def broken() -> None:
        raise RuntimeError("secret detail: /srv/reftrack/.env")

    app.add_api_route("/broken", broken)
    try:
        with serve_in_thread(wrap(app, max_bytes=1 << 20)) as port:
            yield port, token
    finally:
        engine.dispose()


def test_an_unexpected_error_is_a_json_500_and_the_connection_stays_usable(
    failing_server: tuple[int, str], caplog: pytest.LogCaptureFixture
) -> None:
    # given: one keep-alive connection
    port, token = failing_server
    caplog.set_level(logging.ERROR, logger="service.middleware")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # when: a request fails unexpectedly, then another follows on the same connection
        sock.sendall(request_bytes("GET", "/broken", {}))
        failed = read_response(sock)
        sock.sendall(request_bytes("GET", "/v1/users/me", {"Authorization": f"Bearer {token}"}))
        following = read_response(sock)
    # then: the error shape, no detail of the failure, the request id to quote
    request_id = failed.headers["x-request-id"]
    assert failed.status == 500
    assert failed.headers["content-type"] == "application/json"
    assert json.loads(failed.body) == {
        "error": "InternalError",
        "detail": f"unexpected error; it was logged as request {request_id}",
    }
    assert failed.headers["x-content-type-options"] == "nosniff"
    # and: the next request was answered on the same socket
    assert following.status == 200
    assert json.loads(following.body)["email"] == "keep@example.com"
    # and: the failure is logged once, with the request id, the path and the traceback
    records = [r for r in caplog.records if r.getMessage() == "request.failed"]
    assert len(records) == 1
    assert (records[0].__dict__["request_id"], records[0].__dict__["path"]) == (request_id, "/broken")
    assert records[0].exc_info is not None
    assert str(records[0].exc_info[1]) == "secret detail: /srv/reftrack/.env"
