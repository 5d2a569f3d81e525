"""The analysis flow the worker task runs, called eagerly against the test database and real audio."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from analysis import ANALYZER_VERSION
from service.analysis_run.flows import run_analysis
from service.analysis_run.frames import decode_chunk
from service.analysis_run.models import AnalysisEvent, AnalysisRun, FrameData, FrameManifest
from service.config import settings
from service.db import session_scope
from service.outbox.models import OutboxEvent
from service.storage import LocalStorage, waveform_key
from service.track.models import ReferenceTrack
from tests.fixtures.app import Account
from tests.fixtures.audio import click_track, write_audio

SECONDS = 12.0


@pytest.fixture(scope="module")
def track_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples = click_track(bpm=120, seconds=SECONDS, sr=44100, key="A minor")
    return write_audio(tmp_path_factory.mktemp("flow") / "loop.wav", samples, 44100, "wav")


def uploaded(client: TestClient, account: Account, path: Path) -> dict:
    with path.open("rb") as fh:
        response = client.post("/v1/tracks", headers=account.headers, files={"file": (path.name, fh)})
    assert response.status_code == 202, response.text
    return response.json()


def run(
    analysis_id: str, scope: Callable[[], AbstractContextManager[Session]], storage: LocalStorage, tmp_path: Path
) -> str:
    return run_analysis(uuid.UUID(analysis_id), session_scope=scope, storage=storage, tmp_dir=tmp_path / "work")


def outputs(session: Session, analysis_id: str) -> tuple[int, int, int]:
    aid = uuid.UUID(analysis_id)
    manifests = session.scalar(select(func.count()).where(FrameManifest.analysis_id == aid)) or 0
    chunks = (
        session.scalar(
            select(func.count()).select_from(FrameData).join(FrameManifest).where(FrameManifest.analysis_id == aid)
        )
        or 0
    )
    events = session.scalar(select(func.count()).where(AnalysisEvent.analysis_id == aid)) or 0
    return manifests, chunks, events


def test_analysis_writes_results_frames_events_and_waveform(
    client: TestClient,
    alice: Account,
    track_file: Path,
    local_storage: LocalStorage,
    session: Session,
    scope: Callable[[], AbstractContextManager[Session]],
    tmp_path: Path,
) -> None:
    # given
    track = uploaded(client, alice, track_file)
    analysis_id = track["analysis"]["id"]
    # when
    state = run(analysis_id, scope, local_storage, tmp_path)
    # then: the analysis and the track carry the results
    assert state == "succeeded"
    analysis = client.get(f"/v1/tracks/{track['id']}/analysis", headers=alice.headers).json()
    assert analysis["status"] == "succeeded"
    assert analysis["attempts"] == 1
    assert analysis["analyzer_version"] == ANALYZER_VERSION
    assert analysis["error_message"] is None
    assert analysis["results"]["bpm"] == pytest.approx(120, rel=0.02)
    assert analysis["results"]["key"] == "A minor"
    assert analysis["results"]["source"]["format"] == "wav"
    assert analysis["results"]["source"]["bit_depth"] == 16
    row = client.get(f"/v1/tracks/{track['id']}", headers=alice.headers).json()
    assert row["bpm"] == pytest.approx(120, rel=0.02)
    assert row["key"] == "A minor"
    assert row["duration_seconds"] == pytest.approx(SECONDS, abs=0.01)
    assert row["has_waveform"] is True

    # then: every frame series is complete and decodes to its manifest's shape
    manifests = list(
        session.scalars(select(FrameManifest).where(FrameManifest.analysis_id == uuid.UUID(analysis["id"])))
    )
    names = {m.feature for m in manifests}
    assert {"rms", "chroma"} <= names
    for manifest in manifests:
        chunks = list(
            session.scalars(
                select(FrameData).where(FrameData.manifest_id == manifest.id).order_by(FrameData.chunk_index)
            )
        )
        assert len(chunks) == manifest.n_chunks
        assert sum(c.n_frames for c in chunks) == manifest.n_frames
        assert manifest.n_frames == pytest.approx(SECONDS / manifest.hop_seconds, abs=2)
        values = decode_chunk(chunks[0].data, dtype=manifest.dtype, dims=manifest.dimensions)
        assert values.shape == (chunks[0].n_frames, manifest.dimensions)
    chroma = next(m for m in manifests if m.feature == "chroma")
    assert chroma.dimensions == 12

    # then: one beat event per beat, and the waveform is an audiowaveform v2 file
    beats = list(
        session.scalars(
            select(AnalysisEvent.time_seconds)
            .where(AnalysisEvent.analysis_id == uuid.UUID(analysis["id"]), AnalysisEvent.event_type == "beat")
            .order_by(AnalysisEvent.time_seconds)
        )
    )
    assert len(beats) == pytest.approx(SECONDS * 2, abs=2)
    data = local_storage.get_bytes(waveform_key(alice.user.id, track["id"], track["analysis"]["id"]))
    version, _flags, sample_rate, spp, length, channels = struct.unpack("<iIiiIi", data[:24])
    assert (version, sample_rate, channels) == (2, 44100, 2)
    assert length == pytest.approx(SECONDS * 44100 / spp, abs=1)
    topics = list(session.scalars(select(OutboxEvent.topic)))
    assert topics == ["analysis.succeeded"]


def test_rerun_is_idempotent(
    client: TestClient,
    alice: Account,
    track_file: Path,
    local_storage: LocalStorage,
    session: Session,
    scope: Callable[[], AbstractContextManager[Session]],
    tmp_path: Path,
) -> None:
    # given: a finished analysis
    track = uploaded(client, alice, track_file)
    analysis_id = track["analysis"]["id"]
    assert run(analysis_id, scope, local_storage, tmp_path) == "succeeded"
    first = outputs(session, analysis_id)
    # when: the same message is delivered again
    again = run(analysis_id, scope, local_storage, tmp_path)
    # then
    assert again == "skipped"
    assert outputs(session, analysis_id) == first

    # when: a worker died after writing, so the message comes back while the analysis still says running
    row = session.get(AnalysisRun, uuid.UUID(analysis_id))
    assert row is not None
    row.status = "running"
    session.commit()
    rerun = run(analysis_id, scope, local_storage, tmp_path)
    # then: one set of outputs, a second attempt
    assert rerun == "succeeded"
    session.expire_all()
    assert outputs(session, analysis_id) == first
    assert session.get(AnalysisRun, row.id).attempts == 2  # type: ignore[union-attr]


def test_an_analysis_whose_worker_keeps_dying_fails_instead_of_looping(
    client: TestClient,
    alice: Account,
    track_file: Path,
    local_storage: LocalStorage,
    session: Session,
    scope: Callable[[], AbstractContextManager[Session]],
    tmp_path: Path,
) -> None:
    # given: every attempt so far was redelivered after its worker died mid-analysis; the last one is still
    # marked running, so the next start counts its loss too
    track = uploaded(client, alice, track_file)
    row = session.get(AnalysisRun, uuid.UUID(track["analysis"]["id"]))
    assert row is not None
    row.status, row.attempts, row.lost_attempts = "running", 9, settings.task_max_retries
    session.commit()
    # when: the message comes back once more
    state = run(track["analysis"]["id"], scope, local_storage, tmp_path)
    # then: it is failed with a reason, and announced
    assert state == "skipped"
    analysis = client.get(f"/v1/tracks/{track['id']}/analysis", headers=alice.headers).json()
    assert analysis["status"] == "failed"
    assert analysis["error_message"] == f"the worker stopped during each of {settings.task_max_retries + 1} attempts"
    assert list(session.scalars(select(OutboxEvent.topic))) == ["analysis.failed"]
    session.expire_all()
    failed = session.get(AnalysisRun, row.id)
    assert failed is not None
    assert (failed.failure_kind, failed.lost_attempts, failed.attempts) == ("permanent", 6, 9)


def test_attempts_retried_through_an_outage_do_not_count_as_lost_workers(
    client: TestClient,
    alice: Account,
    track_file: Path,
    local_storage: LocalStorage,
    session: Session,
    scope: Callable[[], AbstractContextManager[Session]],
    tmp_path: Path,
) -> None:
    # given: many attempts, each of which met an outage and put the analysis back in the queue
    track = uploaded(client, alice, track_file)
    row = session.get(AnalysisRun, uuid.UUID(track["analysis"]["id"]))
    assert row is not None
    row.status, row.attempts, row.error_message = "queued", 3 * (settings.task_max_retries + 1), "outage"
    session.commit()
    # when: the outage is over
    state = run(track["analysis"]["id"], scope, local_storage, tmp_path)
    # then
    assert state == "succeeded"
    session.expire_all()
    done = session.get(AnalysisRun, row.id)
    assert done is not None
    assert (done.status, done.attempts, done.lost_attempts, done.error_message, done.failure_kind) == (
        "succeeded",
        3 * (settings.task_max_retries + 1) + 1,
        0,
        None,
        None,
    )


def test_undecodable_original_fails_with_a_readable_message(
    client: TestClient,
    alice: Account,
    track_file: Path,
    local_storage: LocalStorage,
    session: Session,
    scope: Callable[[], AbstractContextManager[Session]],
    tmp_path: Path,
) -> None:
    # given: the stored original was corrupted after upload
    track = uploaded(client, alice, track_file)
    key = f"tracks/{alice.user.id}/{track['id']}/original.wav"
    local_storage.put_bytes(key, b"RIFF" + b"\x00" * 60)
    # when
    state = run(track["analysis"]["id"], scope, local_storage, tmp_path)
    # then
    assert state == "failed"
    analysis = client.get(f"/v1/tracks/{track['id']}/analysis", headers=alice.headers).json()
    assert analysis["status"] == "failed"
    assert analysis["error_message"].startswith("could not analyse audio: ")
    assert "Traceback" not in analysis["error_message"]
    assert outputs(session, analysis["id"]) == (0, 0, 0)
    assert list(session.scalars(select(OutboxEvent.topic))) == ["analysis.failed"]
    assert not local_storage.exists(waveform_key(alice.user.id, track["id"], track["analysis"]["id"]))
    assert session.scalar(select(AnalysisRun.failure_kind).where(AnalysisRun.id == uuid.UUID(analysis["id"]))) == (
        "permanent"
    )


def test_missing_original_fails(
    client: TestClient,
    alice: Account,
    track_file: Path,
    local_storage: LocalStorage,
    session: Session,
    scope: Callable[[], AbstractContextManager[Session]],
    tmp_path: Path,
) -> None:
    # given
    track = uploaded(client, alice, track_file)
    local_storage.delete(f"tracks/{alice.user.id}/{track['id']}/original.wav")
    # when
    state = run(track["analysis"]["id"], scope, local_storage, tmp_path)
    # then
    assert state == "failed"
    analysis = client.get(f"/v1/tracks/{track['id']}/analysis", headers=alice.headers).json()
    assert analysis["error_message"] == "the original audio file is missing from storage"
    row = session.get(AnalysisRun, uuid.UUID(analysis["id"]))
    assert row is not None
    assert (row.failure_kind, row.attempts) == ("permanent", 1)


def test_track_deleted_during_analysis_leaves_no_waveform(
    client: TestClient,
    alice: Account,
    track_file: Path,
    tmp_path: Path,
    session: Session,
    session_factory: Callable[[], Session],
    scope: Callable[[], AbstractContextManager[Session]],
) -> None:
    # given: storage that deletes the track (as a user would, from the API) right after the download
    class DeletingStorage(LocalStorage):
        def get_to_path(self, key: str, path: Path) -> None:
            super().get_to_path(key, path)
            with session_scope(session_factory) as s:
                s.execute(delete(ReferenceTrack))

    storage = DeletingStorage(tmp_path / "objects")
    from tests.fixtures.app import make_client

    with make_client(session_factory, storage) as local_client:
        track = uploaded(local_client, alice, track_file)
    # when
    state = run(track["analysis"]["id"], scope, storage, tmp_path)
    # then
    assert state == "skipped"
    assert not storage.exists(waveform_key(alice.user.id, track["id"], track["analysis"]["id"]))
    assert session.scalar(select(func.count()).select_from(AnalysisRun)) == 0
