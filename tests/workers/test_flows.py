"""The analysis flow the worker task runs, called eagerly against the test database and real audio."""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from analysis import ANALYZER_VERSION
from service.analysis_run.frames import decode_chunk
from service.analysis_run.models import AnalysisEvent, AnalysisRun, FrameData, FrameManifest
from service.config import settings
from service.db import session_scope
from service.outbox.models import OutboxEvent
from service.storage import LocalStorage, waveform_key
from service.track.models import Track
from tests.fixtures.app import make_client
from tests.fixtures.audio import click_track, write_audio
from tests.fixtures.database import reloaded
from tests.workers.flow import Flow

SECONDS = 12.0


@pytest.fixture(scope="module")
def track_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples = click_track(bpm=120, seconds=SECONDS, sr=44100, key="A minor")
    return write_audio(tmp_path_factory.mktemp("flow") / "loop.wav", samples, 44100, "wav")


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


def test_analysis_writes_results_frames_events_and_waveform(flow: Flow, track_file: Path, session: Session) -> None:
    # given
    track = flow.upload(track_file)
    analysis_id = track["analysis"]["id"]
    # when
    state = flow.run(analysis_id)
    # then: the analysis and the track carry the results
    assert state == "succeeded"
    analysis = flow.analysis(track)
    assert analysis["status"] == "succeeded"
    assert analysis["attempts"] == 1
    assert analysis["analyzer_version"] == ANALYZER_VERSION
    assert analysis["error_message"] is None
    assert analysis["results"]["bpm"] == pytest.approx(120, rel=0.02)
    assert analysis["results"]["key"] == "A minor"
    assert analysis["results"]["source"]["format"] == "wav"
    assert analysis["results"]["source"]["bit_depth"] == 16
    row = flow.client.get(f"/v1/tracks/{track['id']}", headers=flow.account.headers).json()
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
    data = flow.storage.get_bytes(waveform_key(flow.account.user.id, track["id"], track["analysis"]["id"]))
    version, _flags, sample_rate, spp, length, channels = struct.unpack("<iIiiIi", data[:24])
    assert (version, sample_rate, channels) == (2, 44100, 2)
    assert length == pytest.approx(SECONDS * 44100 / spp, abs=1)
    topics = list(session.scalars(select(OutboxEvent.topic)))
    assert topics == ["analysis.succeeded"]


def test_rerun_is_idempotent(flow: Flow, track_file: Path, session: Session) -> None:
    # given: a finished analysis
    track = flow.upload(track_file)
    analysis_id = track["analysis"]["id"]
    assert flow.run(analysis_id) == "succeeded"
    first = outputs(session, analysis_id)
    # when: the same message is delivered again
    again = flow.run(analysis_id)
    # then
    assert again == "skipped"
    assert outputs(session, analysis_id) == first

    # when: a worker died after writing, so the message comes back while the analysis still says running
    row = session.get(AnalysisRun, uuid.UUID(analysis_id))
    assert row is not None
    row.status = "running"
    session.commit()
    rerun = flow.run(analysis_id)
    # then: one set of outputs, a second attempt
    assert rerun == "succeeded"
    session.expire_all()
    assert outputs(session, analysis_id) == first
    assert session.get(AnalysisRun, row.id).attempts == 2  # type: ignore[union-attr]


def test_an_analysis_whose_worker_keeps_dying_fails_instead_of_looping(
    flow: Flow, track_file: Path, session: Session
) -> None:
    # given: every attempt so far was redelivered after its worker died mid-analysis; the last one is still
    # marked running, so the next start counts its loss too
    track = flow.upload(track_file)
    row = session.get(AnalysisRun, uuid.UUID(track["analysis"]["id"]))
    assert row is not None
    row.status, row.attempts, row.lost_attempts = "running", 9, settings.task_max_retries
    session.commit()
    # when: the message comes back once more
    state = flow.run(track["analysis"]["id"])
    # then: it is failed with a reason, and announced
    assert state == "skipped"
    analysis = flow.analysis(track)
    assert analysis["status"] == "failed"
    assert analysis["error_message"] == f"the worker stopped during each of {settings.task_max_retries + 1} attempts"
    assert list(session.scalars(select(OutboxEvent.topic))) == ["analysis.failed"]
    failed = reloaded(session, AnalysisRun, row.id)
    assert (failed.failure_kind, failed.lost_attempts, failed.attempts) == ("permanent", 6, 9)


def test_attempts_retried_through_an_outage_do_not_count_as_lost_workers(
    flow: Flow, track_file: Path, session: Session
) -> None:
    # given: many attempts, each of which met an outage and put the analysis back in the queue
    track = flow.upload(track_file)
    row = session.get(AnalysisRun, uuid.UUID(track["analysis"]["id"]))
    assert row is not None
    row.status, row.attempts, row.error_message = "queued", 3 * (settings.task_max_retries + 1), "outage"
    session.commit()
    # when: the outage is over
    state = flow.run(track["analysis"]["id"])
    # then
    assert state == "succeeded"
    done = reloaded(session, AnalysisRun, row.id)
    assert (done.status, done.attempts, done.lost_attempts, done.error_message, done.failure_kind) == (
        "succeeded",
        3 * (settings.task_max_retries + 1) + 1,
        0,
        None,
        None,
    )


def test_undecodable_original_fails_with_a_readable_message(flow: Flow, track_file: Path, session: Session) -> None:
    # given: the stored original was corrupted after upload
    track = flow.upload(track_file)
    key = f"tracks/{flow.account.user.id}/{track['id']}/original.wav"
    flow.storage.put_bytes(key, b"RIFF" + b"\x00" * 60)
    # when
    state = flow.run(track["analysis"]["id"])
    # then
    assert state == "failed"
    analysis = flow.analysis(track)
    assert analysis["status"] == "failed"
    assert analysis["error_message"].startswith("could not analyse audio: ")
    assert "Traceback" not in analysis["error_message"]
    assert outputs(session, analysis["id"]) == (0, 0, 0)
    assert list(session.scalars(select(OutboxEvent.topic))) == ["analysis.failed"]
    assert not flow.storage.exists(waveform_key(flow.account.user.id, track["id"], track["analysis"]["id"]))
    assert session.scalar(select(AnalysisRun.failure_kind).where(AnalysisRun.id == uuid.UUID(analysis["id"]))) == (
        "permanent"
    )


def test_missing_original_fails(flow: Flow, track_file: Path, session: Session) -> None:
    # given
    track = flow.upload(track_file)
    flow.storage.delete(f"tracks/{flow.account.user.id}/{track['id']}/original.wav")
    # when
    state = flow.run(track["analysis"]["id"])
    # then
    assert state == "failed"
    analysis = flow.analysis(track)
    assert analysis["error_message"] == "the original audio file is missing from storage"
    row = session.get(AnalysisRun, uuid.UUID(analysis["id"]))
    assert row is not None
    assert (row.failure_kind, row.attempts) == ("permanent", 1)


def test_track_deleted_during_analysis_leaves_no_waveform(
    flow: Flow, track_file: Path, tmp_path: Path, session: Session, session_factory: Callable[[], Session]
) -> None:
    # given: storage that deletes the track (as a user would, from the API) right after the download
    class DeletingStorage(LocalStorage):
        def get_to_path(self, key: str, path: Path) -> None:
            super().get_to_path(key, path)
            with session_scope(session_factory) as s:
                s.execute(delete(Track))

    storage = DeletingStorage(tmp_path / "objects")
    with make_client(session_factory, storage) as local_client:
        deleting = replace(flow, client=local_client, storage=storage)
        track = deleting.upload(track_file)
    # when
    state = deleting.run(track["analysis"]["id"])
    # then
    assert state == "skipped"
    assert not storage.exists(waveform_key(flow.account.user.id, track["id"], track["analysis"]["id"]))
    assert session.scalar(select(func.count()).select_from(AnalysisRun)) == 0
