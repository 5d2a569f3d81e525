"""Where an analysis' time went: the per-phase wall times the worker flow records on the finished analysis."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisRun
from tests.fixtures.audio import click_track, write_audio
from tests.fixtures.database import reloaded
from tests.workers.flow import Flow

PHASES = {"download", "decode", "analyse", "store", "database"}
# started_at is stamped before the first phase begins and completed_at just before the final flush of the
# database phase: the phases may overrun the stamps by that flush alone.
FLUSH_TOLERANCE_S = 0.05


@pytest.fixture(scope="module")
def track_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    samples = click_track(bpm=124, seconds=8.0, sr=44100, key="E minor", seed=3)
    return write_audio(tmp_path_factory.mktemp("timings") / "loop.flac", samples, 44100, "flac")


def test_a_finished_analysis_records_each_phase_and_its_worker(flow: Flow, track_file: Path, session: Session) -> None:
    # given: an uploaded track whose analysis was queued with a parameter of its own
    analysis_id = uuid.UUID(flow.upload(track_file)["analysis"]["id"])
    row = session.get(AnalysisRun, analysis_id)
    assert row is not None
    row.parameters = {"requested_by": "import"}
    session.commit()
    # when
    state = flow.run(analysis_id)
    # then: every phase took some time, and together no longer than the analysis itself
    assert state == "succeeded"
    row = reloaded(session, AnalysisRun, analysis_id)
    assert row.started_at is not None
    assert row.completed_at is not None
    assert set(row.parameters) == {"requested_by", "timings_s", "worker"}
    assert row.parameters["requested_by"] == "import"
    assert row.parameters["worker"] == f"{socket.gethostname()}/{os.getpid()}"
    timings = row.parameters["timings_s"]
    assert set(timings) == PHASES
    assert all(isinstance(seconds, float) and seconds > 0 for seconds in timings.values()), timings
    elapsed = (row.completed_at - row.started_at).total_seconds()
    assert sum(timings.values()) <= elapsed + FLUSH_TOLERANCE_S, (timings, elapsed)


def test_a_rerun_replaces_the_timings_of_the_earlier_attempt(flow: Flow, track_file: Path, session: Session) -> None:
    # given: a finished analysis whose worker died after writing, so its message comes back
    analysis_id = uuid.UUID(flow.upload(track_file)["analysis"]["id"])
    assert flow.run(analysis_id) == "succeeded"
    row = reloaded(session, AnalysisRun, analysis_id)
    first = row.parameters["timings_s"]
    row.status = "running"
    session.commit()
    # when
    state = flow.run(analysis_id)
    # then: one set of timings, the second attempt's
    assert state == "succeeded"
    row = reloaded(session, AnalysisRun, analysis_id)
    assert set(row.parameters) == {"timings_s", "worker"}
    assert set(row.parameters["timings_s"]) == PHASES
    assert row.parameters["timings_s"] != first


def test_a_failed_analysis_records_no_timings(flow: Flow, track_file: Path, session: Session) -> None:
    # given: the original is gone from storage
    analysis_id = uuid.UUID(flow.upload(track_file)["analysis"]["id"])
    row = session.get(AnalysisRun, analysis_id)
    assert row is not None
    flow.storage.delete(f"tracks/{flow.account.user.id}/{row.track_id}/original.flac")
    # when
    state = flow.run(analysis_id)
    # then
    assert state == "failed"
    row = reloaded(session, AnalysisRun, analysis_id)
    assert row.parameters == {}
