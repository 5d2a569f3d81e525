"""Storage or database unavailable: a 503 in the error shape with ``Retry-After``, and nothing left behind.

Object storage is a real S3 API server (moto's server mode) that is stopped, or a port nothing listens on; the
database is a PostgreSQL URL whose port nothing listens on. An upload used to answer a plain-text 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from service.analysis_run.models import AnalysisRun
from service.config import Settings, settings
from service.db import build_engine
from service.middleware import RETRY_AFTER_S
from service.storage import LocalStorage, S3Storage
from service.track.models import Track
from tests.fixtures.app import Account, make_client
from tests.fixtures.audio import sine, write_audio
from tests.fixtures.storage import free_port, make_s3_storage, moto_server
from tests.service.api.support import operations as api_operations


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
    with moto_server(tmp_path / "moto.log") as server:
        make_s3_storage(server, "outage")
    return _s3_storage(server.endpoint_url, "outage")


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
        tracks = s.scalar(select(func.count()).select_from(Track).where(Track.user_id == account.user.id))
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
    with make_client(session_factory, storage) as client, audio.open("rb") as fh:
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
    with make_client(session_factory, unreachable_s3) as client, audio.open("rb") as fh:
        assert client.post("/v1/tracks", headers=alice.headers, files={"file": ("tone.wav", fh)}).status_code == 503
    # when
    with make_client(session_factory, s3_storage) as client, audio.open("rb") as fh:
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
    with make_client(unreachable_database, LocalStorage(tmp_path / "objects")) as client:
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
    with make_client(unreachable_database, storage) as client, audio.open("rb") as fh:
        response = client.post("/v1/tracks", headers={"Authorization": "Bearer any"}, files={"file": ("t.wav", fh)})
    # then
    assert response.status_code == 503
    assert response.json()["error"] == "DatabaseUnavailable"
    assert not (tmp_path / "objects").exists()
    assert _temp_files() == temp_before


def test_every_operation_documents_the_503_and_500_in_the_error_shape() -> None:
    # given
    operations = {f"{method} {path}": spec for method, path, spec in api_operations() if path != "/healthz"}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorRead"}}}
    # then
    assert len(operations) == 61
    for name, spec in operations.items():
        responses = spec["responses"]
        assert responses["503"]["content"] == error, name
        assert responses["503"]["headers"]["Retry-After"]["schema"] == {"type": "integer"}, name
        assert responses["500"]["content"] == error, name
