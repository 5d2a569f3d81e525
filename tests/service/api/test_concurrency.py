"""Many concurrent requests against a real server with a small connection pool: all answered, none deadlocked.

Sync handlers hold a pooled connection across several thread-pool hops; without the request gate, more requests
in flight than connections starve the thread pool and nothing completes. Runs uvicorn in a thread on loopback
over a migrated database file (SQLite) and a fresh PostgreSQL database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import sessionmaker

from service.app import wrap
from service.db import build_engine, session_scope
from service.migrate import migrate
from service.storage import LocalStorage
from service.user.service import user as user_service
from tests.fixtures.app import build_app, serve_in_thread
from tests.fixtures.database import create_postgres_database, drop_postgres_database, skip_without_postgres

POOL_SIZE = 2
REQUESTS = 120


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gate.db'}"
        return
    skip_without_postgres()
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[tuple[str, str]]:
    migrate(database_url)
    engine = build_engine(database_url, pool_size=POOL_SIZE)
    factory = sessionmaker(bind=engine, expire_on_commit=False)
    with session_scope(factory) as s:
        token = user_service.issue_token(s, user=user_service.create(s, email="busy@example.com")).token
    app = build_app(factory, LocalStorage(tmp_path / "objects"))
    try:
        with serve_in_thread(wrap(app, max_bytes=1 << 20, concurrency=2 * POOL_SIZE)) as port:
            yield f"http://127.0.0.1:{port}", token
    finally:
        engine.dispose()


def test_a_burst_of_requests_beyond_the_pool_is_answered_in_full(server: tuple[str, str]) -> None:
    # given: far more requests in flight than the 4 pooled connections (and than the 40 worker threads)
    base_url, token = server
    headers = {"Authorization": f"Bearer {token}"}
    paths = ["/v1/users/me", "/v1/tracks", "/v1/listening-prompts/templates"]

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=REQUESTS)
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=20, limits=limits) as client:
            responses = await asyncio.gather(*(client.get(paths[i % len(paths)]) for i in range(REQUESTS)))
        return [r.status_code for r in responses]

    # when
    statuses = asyncio.run(burst())
    # then
    assert statuses == [200] * REQUESTS
