"""``POST /v1/imports`` and ``GET /v1/imports/{id}`` over HTTP, with the import run as the worker runs it."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisRun
from service.analysis_run.service import analysis_run as analysis_run_service
from service.app import wrap
from service.config import Settings, settings
from service.db import session_scope, utcnow
from service.library_import.endpoints import router
from service.library_import.models import LibraryImport
from service.library_import.service import STALE_AFTER, ImportBusy
from service.storage import LocalStorage
from service.track.models import Track
from tests.fixtures.app import Account, build_app
from tests.fixtures.audio import click_track, write_audio
from tests.service.library_import.conftest import Library, run_worker_job, sent_tasks


@pytest.fixture
def roots(tmp_path: Path) -> list[Path]:
    return [tmp_path / "library"]


@pytest.fixture
def cfg(roots: list[Path]) -> Settings:
    """The settings the API and the worker read: the test library is the one import root."""
    return settings.model_copy(update={"import_roots": roots})


@pytest.fixture
def api(session_factory: Callable[[], Session], local_storage: LocalStorage, cfg: Settings) -> Iterator[TestClient]:
    app = build_app(session_factory, local_storage, cfg=cfg)
    if not any(getattr(route, "path", "") == "/v1/imports" for route in app.routes):
        app.include_router(router)
    with TestClient(wrap(app, max_bytes=1 << 20)) as client:
        yield client


def test_post_queues_the_import_and_get_follows_files_and_analyses(
    api: TestClient,
    alice: Account,
    library: Library,
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    tmp_path: Path,
    cfg: Settings,
) -> None:
    # given
    before = set(sent_tasks("library.import"))
    # when
    created = api.post("/v1/imports", headers=alice.headers, json={"source": str(library.root / "Nested" / "..")})
    # then: queued, and the task is sent on the bulk queue
    assert created.status_code == 202, created.text
    body = created.json()
    assert body["source"] == str(library.root)
    assert body["origin"] == "api"
    assert body["status"] == "queued"
    assert body["files"] == {
        "found": None,
        "processed": 0,
        "imported": 0,
        "duplicate": 0,
        "not_audio": 0,
        "failed": 0,
    }
    assert body["analyses"] == {"queued": 0, "running": 0, "succeeded": 0, "failed": 0}
    assert [m for m in sent_tasks("library.import") if m not in before] == [(body["id"], "analysis.bulk")]
    # when: a worker runs it, starts one analysis and fails another
    run_worker_job(body["id"], session_factory, local_storage, tmp_path, cfg)
    first, second = session.scalars(select(AnalysisRun).order_by(AnalysisRun.created_at, AnalysisRun.id)).all()[:2]
    with session_scope(session_factory) as s:
        analysis_run_service.start(s, analysis_id=first.id)
        analysis_run_service.fail(s, analysis_id=second.id, message="could not analyse audio")
    progress = api.get(f"/v1/imports/{body['id']}", headers=alice.headers)
    # then
    assert progress.status_code == 200, progress.text
    done = progress.json()
    assert done["status"] == "succeeded"
    assert done["files"] == {
        "found": 7,
        "processed": 7,
        "imported": 4,
        "duplicate": 1,
        "not_audio": 1,
        "failed": 1,
    }
    assert done["analyses"] == {"queued": 2, "running": 1, "succeeded": 0, "failed": 1}
    assert [e["path"] for e in done["errors"]] == [str(library.corrupt)]
    assert done["errors"][0]["reason"].startswith("c broken.wav: truncated WAV file")
    assert done["error_message"] is None
    assert done["started_at"] is not None
    assert done["finished_at"] is not None


def test_another_users_import_is_not_found(api: TestClient, alice: Account, bob: Account, library: Library) -> None:
    # given
    created = api.post("/v1/imports", headers=alice.headers, json={"source": str(library.root)}).json()
    # when
    as_bob = api.get(f"/v1/imports/{created['id']}", headers=bob.headers)
    unknown = api.get(f"/v1/imports/{uuid.uuid4()}", headers=alice.headers)
    # then
    assert as_bob.status_code == 404
    assert as_bob.json() == {"error": "NotFound", "detail": "import not found"}
    assert unknown.status_code == 404


def test_posting_the_same_source_again_returns_the_unfinished_import(
    api: TestClient, alice: Account, bob: Account, library: Library
) -> None:
    # given
    first = api.post("/v1/imports", headers=alice.headers, json={"source": str(library.root)}).json()
    # when
    again = api.post("/v1/imports", headers=alice.headers, json={"source": str(library.root) + "/"})
    by_bob = api.post("/v1/imports", headers=bob.headers, json={"source": str(library.root)})
    # then
    assert again.status_code == 202
    assert again.json()["id"] == first["id"]
    assert by_bob.json()["id"] != first["id"]


@pytest.mark.parametrize(
    ("source", "code", "detail"),
    [
        ("/etc", 403, "source: '/etc' is outside the folders imports may read (REFTRACK_IMPORT_ROOTS)"),
        ("{library}/../..", 403, None),
        ("relative/folder", 422, "source: give an absolute server path or s3://bucket/prefix"),
        ("{library}/missing", 422, "source: no such file or folder '{library}/missing'"),
        ("s3://Not_A_Bucket/x", 422, "source: 'Not_A_Bucket' is not an S3 bucket name"),
        ("s3://bucket/a/../b", 422, "source: 'a/../b' is not a valid key prefix"),
        ("", 422, None),
    ],
)
def test_sources_outside_the_roots_or_malformed_are_refused(
    api: TestClient, alice: Account, library: Library, source: str, code: int, detail: str | None
) -> None:
    # when
    response = api.post("/v1/imports", headers=alice.headers, json={"source": source.format(library=library.root)})
    # then
    assert response.status_code == code, response.text
    if detail is not None:
        assert response.json()["detail"] == detail.format(library=library.root)


@pytest.mark.parametrize("roots", [[]])
def test_server_folders_and_buckets_are_refused_when_no_root_is_configured(
    api: TestClient, alice: Account, library: Library, session: Session
) -> None:
    # when
    folder = api.post("/v1/imports", headers=alice.headers, json={"source": str(library.root)})
    bucket = api.post("/v1/imports", headers=alice.headers, json={"source": "s3://studio-archive/masters"})
    # then
    assert folder.status_code == 403
    assert folder.json() == {
        "error": "Forbidden",
        "detail": "imports from server folders are disabled: no import roots are configured (REFTRACK_IMPORT_ROOTS)",
        "field": "source",
    }
    assert bucket.status_code == 403
    assert bucket.json() == {
        "error": "Forbidden",
        "detail": "imports from S3 are disabled: no S3 import roots are configured (REFTRACK_IMPORT_S3_ROOTS)",
        "field": "source",
    }
    assert session.scalars(select(LibraryImport)).all() == []


def test_a_link_out_of_the_root_is_not_followed_by_an_api_import(
    api: TestClient,
    alice: Account,
    library: Library,
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    tmp_path: Path,
    cfg: Settings,
) -> None:
    # given: a link inside the root to audio outside it
    outside = tmp_path / "private"
    outside.mkdir()
    secret = write_audio(outside / "secret.wav", click_track(bpm=90, seconds=2.0, sr=22050, seed=9), 22050, "wav")
    (library.root / "link.wav").symlink_to(secret)
    created = api.post("/v1/imports", headers=alice.headers, json={"source": str(library.root)}).json()
    # when
    run_worker_job(created["id"], session_factory, local_storage, tmp_path, cfg)
    # then: the link is listed, refused with the reason, and its target is nowhere in the library
    done = api.get(f"/v1/imports/{created['id']}", headers=alice.headers).json()
    assert done["files"] == {"found": 8, "processed": 8, "imported": 4, "duplicate": 1, "not_audio": 1, "failed": 2}
    assert {e["path"]: e["reason"] for e in done["errors"]}[str(library.root / "link.wav")] == (
        "links to a file outside the imported folder: not read"
    )
    assert "link" not in set(session.scalars(select(Track.title)))
    secret_sha = hashlib.sha256(secret.read_bytes()).hexdigest()
    assert session.scalars(select(Track).where(Track.content_sha256 == secret_sha)).all() == []


def test_a_worker_backs_off_while_another_runner_is_alive_and_resumes_a_dead_ones_import(
    api: TestClient,
    alice: Account,
    library: Library,
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    tmp_path: Path,
    cfg: Settings,
) -> None:
    # given: an import another runner claimed a moment ago
    created = api.post("/v1/imports", headers=alice.headers, json={"source": str(library.root)}).json()
    import_id = uuid.UUID(created["id"])
    with session_scope(session_factory) as s:
        record = s.get(LibraryImport, import_id)
        assert record is not None
        record.status = "running"
        record.heartbeat_at = utcnow()
    # when / then
    with pytest.raises(ImportBusy):
        run_worker_job(created["id"], session_factory, local_storage, tmp_path, cfg)
    # given: that runner has not been heard of for longer than an import may stay silent
    with session_scope(session_factory) as s:
        record = s.get(LibraryImport, import_id)
        assert record is not None
        record.heartbeat_at = utcnow() - STALE_AFTER - timedelta(seconds=1)
    # when
    run_worker_job(created["id"], session_factory, local_storage, tmp_path, cfg)
    run_worker_job(created["id"], session_factory, local_storage, tmp_path, cfg)
    # then: resumed once, and the finished import is left alone the second time
    done = api.get(f"/v1/imports/{created['id']}", headers=alice.headers).json()
    assert (done["status"], done["files"]["imported"], done["files"]["duplicate"]) == ("succeeded", 4, 1)
    assert len(session.scalars(select(Track.id)).all()) == 4


@pytest.mark.parametrize(
    "source",
    ["{library}/" + "x" * 300, "{library}/\x00", "/\x00etc", "{library}/a/" + "b/" * 600, "s3://" + "a" * 70],
)
def test_odd_sources_are_answered_with_a_client_error(
    api: TestClient, alice: Account, library: Library, source: str
) -> None:
    # when
    response = api.post("/v1/imports", headers=alice.headers, json={"source": source.format(library=library.root)})
    # then
    assert response.status_code in (403, 422), response.text
    assert response.json()["error"] in ("Forbidden", "InvalidInput", "ValidationError")


def test_the_list_holds_the_users_own_imports_newest_first_with_their_progress(
    api: TestClient,
    alice: Account,
    bob: Account,
    library: Library,
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    tmp_path: Path,
    cfg: Settings,
) -> None:
    # given: two of Alice's imports, the first one run; one of Bob's
    first = api.post("/v1/imports", headers=alice.headers, json={"source": str(library.root)}).json()
    run_worker_job(first["id"], session_factory, local_storage, tmp_path, cfg)
    with session_scope(session_factory) as s:
        s.get(LibraryImport, uuid.UUID(first["id"])).created_at = utcnow() - timedelta(minutes=5)  # type: ignore[union-attr]
    second = api.post("/v1/imports", headers=alice.headers, json={"source": str(library.root / "Nested")}).json()
    api.post("/v1/imports", headers=bob.headers, json={"source": str(library.root)})
    # when
    listed = api.get("/v1/imports", headers=alice.headers)
    paged = api.get("/v1/imports", headers=alice.headers, params={"limit": 1, "offset": 1})
    # then
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["count"] == 2
    assert [i["id"] for i in body["data"]] == [second["id"], first["id"]]
    assert body["data"][1] == api.get(f"/v1/imports/{first['id']}", headers=alice.headers).json()
    assert body["data"][1]["analyses"] == {"queued": 4, "running": 0, "succeeded": 0, "failed": 0}
    assert ([i["id"] for i in paged.json()["data"]], paged.json()["count"]) == ([first["id"]], 2)
    # and: imported tracks are not marked as uploads
    imported = session.scalars(select(Track).where(Track.user_id == alice.user.id)).all()
    assert len(imported) == 4
    assert {t.is_user_upload for t in imported} == {False}


def test_the_list_is_empty_for_a_user_without_imports(api: TestClient, alice: Account) -> None:
    # when
    response = api.get("/v1/imports", headers=alice.headers)
    # then
    assert response.json() == {"data": [], "count": 0}
