"""A worker killed in the middle of an analysis: Redis hands the unacknowledged task to the next worker once the
visibility timeout has passed, and the rerun leaves exactly one set of results."""

from __future__ import annotations

import time
import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.analysis_run.models import FrameManifest
from service.outbox.models import OutboxEvent
from tests.e2e.stacks import BPM, KEY, ClickWav, StackFactory
from tests.e2e.support import FEATURES, analysis_status, check_stored_outputs, upload, wait_for_status

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SECONDS = 120.0
VISIBILITY_TIMEOUT_S = 5


def test_task_of_a_killed_worker_is_redelivered_and_rerun_once(
    start_stack: StackFactory, redis_url: str, click_wav: ClickWav
) -> None:
    # given
    stack = start_stack(
        broker_url=redis_url,
        extra_env={
            "REFTRACK_BROKER_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S),
            # Without the warm-up the first analysis includes JIT compilation: a window of seconds to kill in.
            "REFTRACK_WORKER_WARMUP": "false",
        },
    )
    wav = click_wav(seconds=SECONDS, seed=2)
    assert stack.worker is not None
    first_worker = stack.worker

    with stack.client() as client:
        response = upload(client, wav)
        assert response.status_code == 202, response.text
        track_id = response.json()["id"]
        running = wait_for_status(client, track_id, "running", stack.processes)
        assert running["attempts"] == 1

        # when
        stack.processes.kill(first_worker)
        killed_at = time.monotonic()
        at_kill = analysis_status(client, track_id)
        assert (at_kill["status"], at_kill["attempts"]) == ("running", 1), (
            f"the analysis finished before the worker was killed; use a longer track: {at_kill}"
        )
        stack.start_worker()
        analysis = wait_for_status(client, track_id, "succeeded", stack.processes)
        recovered_after = time.monotonic() - killed_at

    # then
    assert analysis["attempts"] == 2
    assert analysis["results"]["key"] == KEY
    assert abs(analysis["results"]["bpm"] - BPM) <= 0.02 * BPM
    stored = check_stored_outputs(stack.engine, analysis["id"], bpm=BPM, seconds=SECONDS)
    assert stored.n_manifest_rows == len(FEATURES)
    with Session(stack.engine) as session:
        features = list(
            session.scalars(select(FrameManifest.feature).where(FrameManifest.analysis_id == uuid.UUID(analysis["id"])))
        )
        succeeded = list(session.scalars(select(OutboxEvent.payload).where(OutboxEvent.topic == "analysis.succeeded")))
    assert sorted(features) == sorted(FEATURES)
    assert stored.n_beats == stored.n_distinct_beat_times
    assert [p["analysis_id"] for p in succeeded] == [analysis["id"]]
    assert recovered_after < 60, f"redelivery took {recovered_after:.0f} s\n{stack.processes.logs()}"
