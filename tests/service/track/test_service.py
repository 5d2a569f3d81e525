"""Track ingestion below the HTTP layer: what happens to stored objects when the transaction fails."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db import session_scope
from service.library.service import library as library_service
from service.storage import LocalStorage
from service.track.ingest import TrackFields
from service.track.models import Track
from service.upload import StreamedUpload
from tests.fixtures.app import Account
from tests.fixtures.audio import click_track, write_audio


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return write_audio(tmp_path / "take.wav", click_track(bpm=100, seconds=3, sr=22050), 22050, "wav")


def test_a_transaction_that_fails_after_the_upload_removes_the_stored_original(
    session_factory: Callable[[], Session],
    local_storage: LocalStorage,
    alice: Account,
    wav: Path,
    session: Session,
    tmp_path: Path,
) -> None:
    # given: ingestion succeeds, then something later in the same transaction fails
    with wav.open("rb") as fh:
        upload = StreamedUpload.from_fileobj(fh, filename=wav.name, tmp_dir=tmp_path / "tmp")

    def ingest_then_fail() -> None:
        with session_scope(session_factory) as s:
            library_service.ingest(s, user=alice.user, upload=upload, fields=TrackFields(), storage=local_storage)
            assert len(list(local_storage.root.rglob("original.wav"))) == 1
            raise RuntimeError("database went away")

    # when
    with pytest.raises(RuntimeError, match="database went away"):
        ingest_then_fail()
    # then
    assert list(local_storage.root.rglob("*.wav")) == []
    assert session.scalar(select(func.count()).select_from(Track)) == 0
    upload.close()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_healthz_checks_database_storage_and_broker(client: TestClient) -> None:
    # when
    response = client.get("/healthz")
    # then
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "storage": "ok", "broker": "ok"}}
