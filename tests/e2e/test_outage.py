"""Object storage and the database go down while a real worker analyses tracks, for longer than the five
retries tasks used to make (2 + 4 + ... + 32 s at most, less with jitter), and come back: every analysis
succeeds exactly once, with nothing duplicated and no object left in storage that no row names.

The worker and the API reach the S3 server and PostgreSQL through TCP proxies the test cuts (every connection
dropped, new ones refused) and restores; the test itself reads both directly. ``REFTRACK_TEST_OUTAGE_S`` sets
the outage's length (default 70 s) and ``REFTRACK_TEST_OUTAGE_TRACKS`` the number of tracks; the figures are
printed (``pytest -s``) and written to ``outage-figures.json`` beside the logs. The ten-minute run, with the
default backoff::

    REFTRACK_TEST_OUTAGE_S=600 REFTRACK_TEST_OUTAGE_TRACKS=6 REFTRACK_TEST_OUTAGE_DEFAULT_BACKOFF=1 \
        uv run pytest -s tests/e2e/test_outage.py
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisEvent, AnalysisRun, FrameManifest
from service.outbox.models import OutboxEvent
from service.track.models import Track
from tests.e2e.proxy import TcpProxy
from tests.e2e.stacks import BPM, ClickWav, ProductionStack, StackFactory
from tests.e2e.support import FEATURES, check_stored_outputs, track_objects, upload, wait_until
from tests.fixtures.storage import S3Server

OUTAGE_S = float(os.environ.get("REFTRACK_TEST_OUTAGE_S", "70"))
N_TRACKS = int(os.environ.get("REFTRACK_TEST_OUTAGE_TRACKS", "3"))

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.timeout(max(300, OUTAGE_S + 300 + 30 * N_TRACKS))]
SECONDS = 20.0
# The database follows storage down this far into the outage, so attempts meet both kinds of failure.
DATABASE_CUT_AT = 0.3
# Retries every 1, 2, 4, 8, 8, ... s here: the default cap of a minute would only add waiting after the
# restore. The long run keeps the defaults (REFTRACK_TEST_OUTAGE_DEFAULT_BACKOFF=1).
BACKOFF_ENV = (
    {}
    if os.environ.get("REFTRACK_TEST_OUTAGE_DEFAULT_BACKOFF") == "1"
    else {"REFTRACK_TASK_RETRY_BACKOFF_S": "1", "REFTRACK_TASK_RETRY_BACKOFF_MAX_S": "8"}
)


@dataclass
class OutageFigures:
    outage_s: float
    tracks: int
    succeeded: int
    failed: int
    attempts: list[int]
    lost_attempts: list[int]
    worker_retries: int
    recovered_after_restore_s: float
    duplicate_manifests: int
    duplicate_events: int
    succeeded_events: int
    failed_events: int
    orphaned_objects: int
    missing_objects: int


@pytest.fixture
def s3_proxy(s3_server: S3Server) -> Iterator[TcpProxy]:
    proxy = TcpProxy.to_url(s3_server.endpoint_url)
    yield proxy
    proxy.close()


@pytest.fixture
def postgres_proxy(postgres_url: str) -> Iterator[TcpProxy]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    yield proxy
    proxy.close()


def statuses(stack: ProductionStack, analysis_ids: list[uuid.UUID]) -> dict[uuid.UUID, AnalysisRun]:
    with Session(stack.engine) as session:
        return {r.id: r for r in session.scalars(select(AnalysisRun).where(AnalysisRun.id.in_(analysis_ids)))}


def test_analyses_survive_a_storage_and_database_outage(
    start_stack: StackFactory,
    redis_url: str,
    click_wav: ClickWav,
    s3_server: S3Server,
    postgres_url: str,
    s3_proxy: TcpProxy,
    postgres_proxy: TcpProxy,
    tmp_path: Path,
) -> None:
    # given: the production topology, its processes reaching storage and the database through the proxies
    stack = start_stack(
        broker_url=redis_url,
        extra_env={
            "REFTRACK_DATABASE_URL": postgres_proxy.proxied_url(postgres_url),
            "REFTRACK_S3_ENDPOINT_URL": s3_proxy.proxied_url(s3_server.endpoint_url),
            **BACKOFF_ENV,
            "REFTRACK_S3_MAX_ATTEMPTS": "2",
            "REFTRACK_S3_CONNECT_TIMEOUT": "2",
        },
    )
    assert stack.worker is not None
    stack.processes.stop(stack.worker)  # tracks wait in the queue until the outage has begun
    with stack.client() as client:
        tracks = []
        for seed in range(N_TRACKS):
            response = upload(client, click_wav(seconds=SECONDS, seed=100 + seed))
            assert response.status_code == 202, response.text
            tracks.append(response.json())
    analysis_ids = [uuid.UUID(t["analysis"]["id"]) for t in tracks]

    # when: storage goes down, a worker starts, the database goes down too, then both come back
    s3_proxy.cut()
    cut_at = time.monotonic()
    worker = stack.start_worker()
    # Meanwhile, note each analysis seen back in the queue after an attempt met the storage outage.
    met_outage: dict[uuid.UUID, str] = {}
    while time.monotonic() - cut_at < OUTAGE_S * DATABASE_CUT_AT:
        for analysis_id, run in statuses(stack, analysis_ids).items():
            if run.status == "queued" and run.attempts > 0:
                met_outage.setdefault(analysis_id, run.error_message or "")
        time.sleep(0.25)
    postgres_proxy.cut()
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
    s3_proxy.restore()
    postgres_proxy.restore()
    outage_s = time.monotonic() - cut_at
    restored_at = time.monotonic()

    def all_finished() -> dict[uuid.UUID, AnalysisRun] | None:
        rows = statuses(stack, analysis_ids)
        done = all(r.status in ("succeeded", "failed") for r in rows.values())
        return rows if done and len(rows) == len(analysis_ids) else None

    rows = wait_until(
        all_finished,
        timeout=180 + N_TRACKS * 30,
        what="every analysis to finish after the outage",
        context=stack.processes.logs,
        interval=1.0,
    )
    recovered_after = time.monotonic() - restored_at

    # then: the attempts before the database went down met the storage outage, and were put back in the queue
    assert sorted(met_outage) == sorted(analysis_ids), met_outage
    assert all(" met an outage and will be retried: EndpointConnectionError" in m for m in met_outage.values()), (
        met_outage
    )
    # then: every analysis succeeded once, after more than one attempt
    finished = {i: (r.status, r.error_message, r.failure_kind) for i, r in rows.items()}
    assert finished == dict.fromkeys(analysis_ids, ("succeeded", None, None)), stack.processes.logs()
    assert all(r.attempts >= 2 for r in rows.values())
    with Session(stack.engine) as session:
        manifests = session.execute(
            select(FrameManifest.analysis_id, func.count()).group_by(FrameManifest.analysis_id)
        ).all()
        duplicate_events = session.scalar(
            select(func.count()).select_from(
                select(AnalysisEvent.analysis_id, AnalysisEvent.event_type, AnalysisEvent.time_seconds)
                .group_by(AnalysisEvent.analysis_id, AnalysisEvent.event_type, AnalysisEvent.time_seconds)
                .having(func.count() > 1)
                .subquery()
            )
        )
        outbox = [(e.topic, e.payload["analysis_id"]) for e in session.scalars(select(OutboxEvent))]
        owners = {t.id: t.user_id for t in session.scalars(select(Track))}
    assert sorted((str(aid), n) for aid, n in manifests) == sorted((str(i), len(FEATURES)) for i in analysis_ids)
    for analysis_id in analysis_ids:
        check_stored_outputs(stack.engine, str(analysis_id), bpm=BPM, seconds=SECONDS)
    assert sorted(outbox) == sorted(("analysis.succeeded", str(i)) for i in analysis_ids)
    # then: storage holds exactly what the rows name: no orphan from an attempt cut off halfway
    expected = sorted(
        f"tracks/{owners[uuid.UUID(t['id'])]}/{t['id']}/{name}"
        for t in tracks
        for name in track_objects(t["analysis"]["id"])
    )
    stored = stack.object_keys("tracks/")
    assert stored == expected
    worker_retries = worker.output().count("retry: Retry in")
    assert worker_retries >= N_TRACKS

    figures = OutageFigures(
        outage_s=round(outage_s, 1),
        tracks=N_TRACKS,
        succeeded=sum(r.status == "succeeded" for r in rows.values()),
        failed=sum(r.status == "failed" for r in rows.values()),
        attempts=sorted(r.attempts for r in rows.values()),
        lost_attempts=sorted(r.lost_attempts for r in rows.values()),
        worker_retries=worker_retries,
        recovered_after_restore_s=round(recovered_after, 1),
        duplicate_manifests=sum(n - len(FEATURES) for _, n in manifests),
        duplicate_events=int(duplicate_events or 0),
        succeeded_events=sum(topic == "analysis.succeeded" for topic, _ in outbox),
        failed_events=sum(topic == "analysis.failed" for topic, _ in outbox),
        orphaned_objects=len(set(stored) - set(expected)),
        missing_objects=len(set(expected) - set(stored)),
    )
    sys.stdout.write(f"outage figures: {json.dumps(asdict(figures))}\n")
    (tmp_path / "logs" / "outage-figures.json").write_text(json.dumps(asdict(figures), indent=2))
