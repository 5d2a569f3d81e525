"""A worker SIGKILLed mid-analysis leaves its download of the original in the temporary folder, and an API
killed mid-upload leaves the upload: the next worker and the next API sweep such leftovers once they are older
than ``REFTRACK_TMP_MAX_AGE_S`` when they start, and leave a file still in use alone."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.e2e.stacks import ClickWav, StackFactory
from tests.e2e.support import analysis_status, cli, upload, wait_for_status, wait_healthy, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

SECONDS = 120.0
MAX_AGE_S = 3600


def age(path: Path, seconds: float) -> None:
    """Set the file's last write back by ``seconds``, as if that much time had passed since the kill."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_leftovers_of_killed_processes_are_swept_at_start_and_files_in_use_kept(
    start_stack: StackFactory, redis_url: str, click_wav: ClickWav, tmp_path: Path
) -> None:
    # given: a worker analysing a long track
    stack = start_stack(
        broker_url=redis_url,
        extra_env={
            "REFTRACK_BROKER_VISIBILITY_TIMEOUT": "5",
            "REFTRACK_WORKER_WARMUP": "false",
            "REFTRACK_TMP_MAX_AGE_S": str(MAX_AGE_S),
        },
    )
    tmp = tmp_path / "data" / "tmp"
    assert stack.worker is not None
    with stack.client() as client:
        response = upload(client, click_wav(seconds=SECONDS, seed=11))
        assert response.status_code == 202, response.text
        track_id = response.json()["id"]
        wait_for_status(client, track_id, "running", stack.processes)
        wait_until(
            lambda: sorted(tmp.glob("analysis-*")) or None, timeout=30, what="the worker's download of the original"
        )

        # when: the worker is SIGKILLed mid-analysis
        stack.processes.kill(stack.worker)
        assert analysis_status(client, track_id)["status"] == "running", "use a longer track"
        # then: its download is left behind; killed mid-transfer, so is the S3 transfer's partial file beside it
        # (``<download>.<random>``, renamed over the download when complete)
        leftovers = sorted(tmp.glob("analysis-*"))
        assert 1 <= len(leftovers) <= 2, leftovers

        # when: an hour and more later, a new worker starts while an upload is being received
        for leftover in leftovers:
            age(leftover, MAX_AGE_S + 60)
        in_use = tmp / "upload-being-received"
        in_use.write_bytes(b"RIFF" + b"\0" * 4092)
        stack.start_worker()
        # then: the leftovers are swept, the file in use kept, and the analysis finished by the new worker
        wait_until(
            lambda: not any(p.exists() for p in leftovers),
            timeout=60,
            what="the sweep at worker start",
            context=stack.processes.logs,
        )
        assert in_use.read_bytes() == b"RIFF" + b"\0" * 4092
        analysis = wait_for_status(client, track_id, "succeeded", stack.processes)
        assert (analysis["attempts"], analysis["error_message"]) == (2, None)
        assert sorted(p.name for p in tmp.iterdir()) == ["upload-being-received"]

    # when: the API is killed while receiving an upload, and started again long after
    assert stack.serve is not None
    stack.processes.kill(stack.serve)
    age(in_use, MAX_AGE_S + 60)
    fresh = tmp / "analysis-of-the-running-worker.wav"
    fresh.write_bytes(b"\0" * 100)
    port = urlsplit(stack.base_url).port
    stack.serve = stack.processes.start("serve", cli("serve", "--port", str(port)), stack.env)
    wait_healthy(stack.base_url, stack.processes, [stack.serve])
    # then
    assert sorted(p.name for p in tmp.iterdir()) == ["analysis-of-the-running-worker.wav"]
