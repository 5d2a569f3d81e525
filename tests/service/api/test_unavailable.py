"""Storage or database unavailable: a 503 in the error shape with ``Retry-After``, and nothing left behind.

Object storage is a real S3 API server (moto's server mode) that is stopped, or a port nothing listens on; the
database is a PostgreSQL URL whose port nothing listens on. An upload used to answer a plain-text 500.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.analysis_run.models import AnalysisRun
from service.app import create_app, wrap
from service.config import Settings, settings
from service.db import build_engine, get_session, session_scope
from service.middleware import RETRY_AFTER_S
from service.storage import LocalStorage, S3Storage, Storage, get_storage
from service.track.models import ReferenceTrack
from tests.fixtures.app import Account
from tests.fixtures.audio import sine, write_audio
from tests.fixtures.storage import S3Server, free_port, make_s3_storage


def _client(session_factory: Callable[[], Session], storage: Storage) -> TestClient:
    app = create_app()

    def override_session() -> Iterator[Session]:
        with session_scope(session_factory) as s:
            yield s

    app.dependency_overrides[get_session] = override_session
    app.dependency_overrides[get_storage] = lambda: storage
    return TestClient(wrap(app, max_bytes=1 << 30))


def _s3_storage(endpoint_url: str, bucket: str) -> S3Storage:
    # One attempt: the outage is the point, not botocore's own retries.
    return S3Storage.from_settings(
        Settings(
            s3_endpoint_url=endpoint_url,
            s3_bucket=bucket,
            s3_access_key_id="testing",
            s3_secret_access_key="testing",
            s3_max_attempts=1,
            s3_connect_timeout=2.0,
        )
    )


@pytest.fixture
def stopped_s3(tmp_path: Path) -> S3Storage:
    """A bucket on a moto server of its own, which is then stopped."""
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    with (tmp_path / "moto.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        make_s3_storage(S3Server(endpoint_url=f"http://127.0.0.1:{port}"), "outage")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return _s3_storage(f"http://127.0.0.1:{port}", "outage")


@pytest.fixture
def unreachable_s3() -> S3Storage:
    return _s3_storage(f"http://127.0.0.1:{free_port()}", "nowhere")


@pytest.fixture
def audio(tmp_path: Path) -> Path:
    return write_audio(tmp_path / "tone.wav", sine(freq_hz=440.0, seconds=1.0), 44100, "wav")


def _temp_files() -> set[str]:
    folder = settings.tmp_dir
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def _rows(session_factory: Callable[[], Session], account: Account) -> tuple[int, int]:
    with session_factory() as s:
        tracks = s.scalar(
            select(func.count()).select_from(ReferenceTrack).where(ReferenceTrack.user_id == account.user.id)
        )
        runs = s.scalar(select(func.count()).select_from(AnalysisRun).where(AnalysisRun.user_id == account.user.id))
    return int(tracks or 0), int(runs or 0)


@pytest.mark.parametrize("outage", ["stopped_s3", "unreachable_s3"])
def test_an_upload_while_storage_is_down_is_a_503_and_leaves_nothing(
    request: pytest.FixtureRequest,
    outage: str,
    session_factory: Callable[[], Session],
    alice: Account,
    audio: Path,
) -> None:
    # given
    storage: S3Storage = request.getfixturevalue(outage)
    temp_before = _temp_files()
    # when
    with _client(session_factory, storage) as client, audio.open("rb") as fh:
        response = client.post("/v1/tracks", headers=alice.headers, files={"file": ("tone.wav", fh)})
    # then
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    assert response.json() == {"error": "StorageUnavailable", "detail": "object storage is unavailable; retry later"}
    assert _rows(session_factory, alice) == (0, 0)
    assert _temp_files() == temp_before


def test_the_same_upload_succeeds_once_storage_is_back(
    session_factory: Callable[[], Session],
    alice: Account,
    audio: Path,
    s3_storage: S3Storage,
    unreachable_s3: S3Storage,
) -> None:
    # given: refused during the outage
    with _client(session_factory, unreachable_s3) as client, audio.open("rb") as fh:
        assert client.post("/v1/tracks", headers=alice.headers, files={"file": ("tone.wav", fh)}).status_code == 503
    # when
    with _client(session_factory, s3_storage) as client, audio.open("rb") as fh:
        response = client.post("/v1/tracks", headers=alice.headers, files={"file": ("tone.wav", fh)})
    # then
    assert response.status_code == 202, response.text
    assert _rows(session_factory, alice) == (1, 1)
    assert [key for key, _, _ in s3_storage.list_keys()] == [
        f"tracks/{alice.user.id}/{response.json()['id']}/original.wav"
    ]


@pytest.fixture
def unreachable_database(tmp_path: Path) -> Iterator[Callable[[], Session]]:
    engine = build_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/reftrack")
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/users/me", None),
        ("GET", "/v1/tracks?q=midnight", None),
        ("PATCH", "/v1/tracks/00000000-0000-4000-8000-000000000000", {"title": "x"}),
        ("POST", "/v1/imports", {"source": "s3://bucket/prefix/"}),
    ],
)
def test_a_request_while_the_database_is_down_is_a_503(
    unreachable_database: Callable[[], Session], tmp_path: Path, method: str, path: str, body: dict[str, str] | None
) -> None:
    # when
    with _client(unreachable_database, LocalStorage(tmp_path / "objects")) as client:
        response = client.request(method, path, headers={"Authorization": "Bearer any-token"}, json=body)
    # then
    assert response.status_code == 503
    assert response.headers["retry-after"] == str(RETRY_AFTER_S)
    assert response.json() == {"error": "DatabaseUnavailable", "detail": "the database is unavailable; retry later"}


def test_an_upload_while_the_database_is_down_is_a_503_and_leaves_nothing(
    unreachable_database: Callable[[], Session], tmp_path: Path, audio: Path
) -> None:
    # given
    storage = LocalStorage(tmp_path / "objects")
    temp_before = _temp_files()
    # when
    with _client(unreachable_database, storage) as client, audio.open("rb") as fh:
        response = client.post("/v1/tracks", headers={"Authorization": "Bearer any"}, files={"file": ("t.wav", fh)})
    # then
    assert response.status_code == 503
    assert response.json()["error"] == "DatabaseUnavailable"
    assert not (tmp_path / "objects").exists()
    assert _temp_files() == temp_before
