"""The production topology end to end: PostgreSQL, a broker server, an S3 bucket, a separate worker process
and ``reftrack serve`` running the API alone."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisEvent, AnalysisRun, FrameData, FrameManifest
from service.outbox.models import OutboxEvent
from service.track.models import Track
from tests.e2e.stacks import BPM, KEY, SR, ClickWav, StackFactory
from tests.e2e.support import (
    check_results,
    check_stored_outputs,
    check_track,
    check_waveform,
    track_objects,
    upload,
    wait_for_status,
)

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SECONDS = 20.0


@pytest.fixture(params=["redis", "rabbitmq"])
def broker_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue("redis_url" if request.param == "redis" else "amqp_url")
    return url


def test_upload_is_analysed_by_a_separate_worker(
    start_stack: StackFactory, broker_url: str, click_wav: ClickWav
) -> None:
    # given
    stack = start_stack(broker_url=broker_url)
    assert stack.serve is not None
    assert stack.serve.children() == [], "serve must not start a worker when a broker is configured"
    wav = click_wav(seconds=SECONDS)

    with stack.client() as client:
        # when
        response = upload(client, wav)
        assert response.status_code == 202, response.text
        created = response.json()
        assert (created["analysis"]["status"], created["analysis"]["attempts"]) == ("queued", 0)
        track_id = created["id"]
        analysis = wait_for_status(client, track_id, "succeeded", stack.processes)
        track = client.get(f"/v1/tracks/{track_id}").json()

    # then
    check_track(track, bpm=BPM, key=KEY, seconds=SECONDS)
    check_results(analysis, bpm=BPM, key=KEY, seconds=SECONDS)
    assert analysis["attempts"] == 1
    check_stored_outputs(stack.engine, analysis["id"], bpm=BPM, seconds=SECONDS)
    aid, tid = uuid.UUID(analysis["id"]), uuid.UUID(track_id)
    with Session(stack.engine) as session:
        row = session.get(Track, tid)
        assert row is not None
        user_id = row.user_id
        succeeded = list(session.scalars(select(OutboxEvent.payload).where(OutboxEvent.topic == "analysis.succeeded")))
    assert succeeded == [{"analysis_id": str(aid), "track_id": track_id, "user_id": str(user_id)}]
    prefix = f"tracks/{user_id}/{track_id}/"
    assert stack.object_keys("tracks/") == [f"{prefix}{name}" for name in track_objects(analysis["id"])]
    assert stack.storage.get_bytes(f"{prefix}original.wav") == wav.read_bytes()
    check_waveform(
        stack.storage.get_bytes(f"{prefix}analyses/{aid}/waveform.dat"),
        sample_rate=SR,
        channels=2,
        frames=int(SECONDS * SR),
    )

    # when
    with stack.client() as client:
        deleted = client.delete(f"/v1/tracks/{track_id}")
        assert deleted.status_code == 204, deleted.text
        assert client.get(f"/v1/tracks/{track_id}").status_code == 404

    # then
    assert stack.object_keys("tracks/") == []
    with Session(stack.engine) as session:
        assert session.get(Track, tid) is None
        assert session.get(AnalysisRun, aid) is None
        assert session.scalar(select(func.count()).select_from(FrameManifest)) == 0
        assert session.scalar(select(func.count()).select_from(FrameData)) == 0
        assert session.scalar(select(func.count()).select_from(AnalysisEvent)) == 0
        topics = list(session.scalars(select(OutboxEvent.topic).order_by(OutboxEvent.created_at)))
    assert topics == ["analysis.succeeded", "track.deleted"]
