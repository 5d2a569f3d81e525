"""Every kind of bad or edge-case upload from :mod:`tests.reliability.bad_inputs`, sent over a real socket to the
real app (uvicorn in a thread) on SQLite and PostgreSQL.

A refused upload answers a 4xx in the error shape with a readable detail and leaves no track, no analysis, no
stored object and no temporary file; the connection stays usable for the next request. An accepted upload's
analysis, run in this process as the worker runs it, ends as the case expects, with a readable reason when it
fails.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.analysis_run.flows import run_analysis
from service.analysis_run.models import AnalysisRun
from service.app import create_app, wrap
from service.config import settings
from service.db import get_session, session_scope
from service.storage import LocalStorage, get_storage
from service.track.models import Track
from tests.fixtures.app import create_account, serve_in_thread
from tests.reliability.bad_inputs import CASES, Case

pytestmark = pytest.mark.integration

# What a user must never read in an error: exception class names, tracebacks, object reprs, server paths.
_LEAK = re.compile(r"Traceback|File \"|\b\w+(Error|Exception)\b|object at 0x|/tmp/|reftrack-tests")


@dataclass
class _Target:
    """Where the running server's requests go: swapped to each test's database connection and storage."""

    session_factory: Callable[[], Session] | None = None
    storage: LocalStorage | None = None
    requests: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, _Target]]:
    target = _Target()
    app = create_app()

    def session() -> Iterator[Session]:
        assert target.session_factory is not None
        with session_scope(target.session_factory) as s:
            yield s

    app.dependency_overrides[get_session] = session
    app.dependency_overrides[get_storage] = lambda: target.storage
    with serve_in_thread(wrap(app, max_bytes=16 << 20)) as port:
        yield f"http://127.0.0.1:{port}", target


def _temp_files() -> set[str]:
    folder = settings.tmp_dir
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _stored(storage: LocalStorage) -> list[str]:
    root = storage.root
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _assert_readable(text: str) -> None:
    assert text.strip(), "empty message"
    assert _LEAK.search(text) is None, f"internal detail leaks into {text!r}"
    assert str(settings.data_dir) not in text


def _post(client: httpx.Client, case: Case, body: bytes, headers: dict[str, str]) -> httpx.Response:
    if case.raw_body_type is not None:
        return client.post("/v1/tracks", headers={**headers, "Content-Type": case.raw_body_type}, content=body)
    return client.post("/v1/tracks", headers=headers, files={"file": (case.filename, body, case.content_type)})


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_upload_is_refused_cleanly_or_analysed(
    case: Case,
    server: tuple[str, _Target],
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
    tmp_path: Path,
) -> None:
    # given
    base_url, target = server
    target.session_factory, target.storage = session_factory, local_storage
    account = create_account(session_factory, f"prober-{uuid.uuid4().hex[:8]}@example.com")
    body = case.build()
    temp_before = _temp_files()

    # when: the upload, then another request on the same keep-alive connection
    with httpx.Client(base_url=base_url, timeout=60) as client:
        response = _post(client, case, body, account.headers)
        after = client.get("/v1/users/me", headers=account.headers)

    # then
    assert response.status_code == case.status, response.text
    assert after.status_code == 200, after.text
    assert _temp_files() == temp_before
    answer = response.json()
    if case.status != 202:
        assert answer["error"] == case.error, answer
        assert case.detail in answer["detail"], answer
        assert answer.get("field") == case.field, answer
        _assert_readable(answer["detail"])
        assert _count(session, Track) == 0
        assert _count(session, AnalysisRun) == 0
        assert _stored(local_storage) == []
        return

    assert answer["analysis"]["status"] == "queued"
    assert _count(session, Track) == 1
    assert _count(session, AnalysisRun) == 1
    work = tmp_path / "work"
    status = run_analysis(
        uuid.UUID(answer["analysis"]["id"]),
        session_scope=lambda: session_scope(session_factory),
        storage=local_storage,
        tmp_dir=work,
    )
    run = session.get(AnalysisRun, uuid.UUID(answer["analysis"]["id"]), populate_existing=True)
    assert run is not None
    assert (status, run.status) == (case.analysis, case.analysis), run.error_message
    if run.status == "failed":
        assert run.error_message is not None
        _assert_readable(run.error_message)
    assert list(work.iterdir()) == []
    stored = _stored(local_storage)
    original = f"tracks/{account.user.id}/{answer['id']}/original.{answer['file_format']}"
    # the original, then (when analysed) five waveform zoom levels and the thumbnail
    assert original in stored
    assert len(stored) == (7 if case.analysis == "succeeded" else 1), stored
