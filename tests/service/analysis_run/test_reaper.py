"""The reaper: stuck analyses are sent again (or failed once out of attempts), each exactly once, after commit."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from service.analysis_run.models import AnalysisRun
from service.analysis_run.reaper import ReaperPolicy, reap_stuck_analyses, reaper
from service.analysis_run.service import analysis_run as analysis_run_service
from service.config import Settings, settings
from service.db import build_engine, commit, rollback, session_scope, utcnow
from service.migrate import migrate
from service.outbox.models import OutboxEvent
from service.track.models import Track
from service.user.models import User
from tests.fixtures.database import create_postgres_database, drop_postgres_database, reloaded, skip_without_postgres

TIMEOUT_S = 1800
QUEUED_TIMEOUT_S = 6 * 3600
CFG = Settings(
    _env_file=None,
    analysis_timeout_s=TIMEOUT_S,
    analysis_queued_timeout_s=QUEUED_TIMEOUT_S,
    task_max_retries=5,
)
POLICY = ReaperPolicy.from_settings(CFG)
ROOT = Path(__file__).resolve().parents[3]

Scope = Callable[[], AbstractContextManager[Session]]


def sent_analysis_ids() -> Counter[str]:
    """How many ``track.analyze`` messages for each analysis id wait in the embedded broker's folder."""
    ids: Counter[str] = Counter()
    for message in settings.queue_dir.glob("*.msg"):
        envelope = json.loads(message.read_text())
        if envelope["headers"].get("task") == "track.analyze":
            args, _kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
            ids[args[0]] += 1
    return ids


def sent_since(before: Counter[str]) -> Counter[str]:
    return sent_analysis_ids() - before


def as_utc(value: datetime | None) -> datetime | None:
    """Timestamps read back from SQLite are naive UTC."""
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=UTC)


def make_track(scope: Scope) -> Track:
    with scope() as s:
        user = User(email=f"{uuid.uuid4().hex[:8]}@example.com")
        s.add(user)
        s.flush()
        track_id = uuid.uuid4()
        track = Track(
            id=track_id,
            user_id=user.id,
            title="stuck",
            storage_key=f"tracks/{user.id}/{track_id}/original.wav",
            file_format="wav",
            size_bytes=1000,
            content_sha256=hashlib.sha256(track_id.bytes).hexdigest(),
            metadata_={},
        )
        s.add(track)
    return track


def make_run(
    scope: Scope,
    track: Track,
    *,
    status: str,
    created_at: datetime,
    started_at: datetime | None = None,
    attempts: int = 0,
    lost_attempts: int = 0,
    queue: str = "analysis",
    failure_kind: str | None = None,
    completed_at: datetime | None = None,
) -> uuid.UUID:
    with scope() as s:
        run = AnalysisRun(
            track_id=track.id,
            user_id=track.user_id,
            status=status,
            queue=queue,
            parameters={},
            attempts=attempts,
            lost_attempts=lost_attempts,
            created_at=created_at,
            started_at=started_at,
            failure_kind=failure_kind,
            completed_at=completed_at,
        )
        s.add(run)
    return run.id


def make_overdue_run(scope: Scope, now: datetime, *, created_at: datetime, attempts: int) -> uuid.UUID:
    """A new track's analysis still marked running a second past the timeout after its worker started it."""
    return make_run(
        scope,
        make_track(scope),
        status="running",
        created_at=created_at,
        started_at=now - timedelta(seconds=TIMEOUT_S + 1),
        attempts=attempts,
    )


@pytest.fixture
def now() -> datetime:
    return utcnow()


def test_stuck_analyses_are_requeued_and_the_others_left_alone(scope: Scope, session: Session, now: datetime) -> None:
    # given
    track = make_track(scope)

    def minutes(n: int) -> datetime:
        return now - timedelta(minutes=n)

    stale_running = make_run(scope, track, status="running", created_at=minutes(40), started_at=minutes(31), attempts=1)
    slow_running = make_run(scope, track, status="running", created_at=minutes(40), started_at=minutes(29), attempts=1)
    lost_queued = make_run(scope, track, status="queued", created_at=minutes(6 * 60 + 1))
    waiting_queued = make_run(scope, track, status="queued", created_at=minutes(6 * 60 - 1))
    done = make_run(scope, track, status="succeeded", created_at=minutes(600), started_at=minutes(599), attempts=1)
    failed = make_run(scope, track, status="failed", created_at=minutes(600), started_at=minutes(599), attempts=6)
    before = sent_analysis_ids()
    # when
    result = reap_stuck_analyses(session_scope=scope, cfg=CFG, now=now)
    # then: oldest first; both go back to the queue with the time they were handed out again
    assert result.requeued == [lost_queued, stale_running]
    assert result.failed == []
    assert sent_since(before) == Counter({str(lost_queued): 1, str(stale_running): 1})
    session.expire_all()
    rows = {run.id: run for run in session.scalars(select(AnalysisRun))}
    assert {i: (rows[i].status, rows[i].attempts, as_utc(rows[i].started_at)) for i in result.requeued} == {
        lost_queued: ("queued", 0, now),
        stale_running: ("queued", 1, now),
    }
    assert [rows[i].status for i in (slow_running, waiting_queued, done, failed)] == [
        "running",
        "queued",
        "succeeded",
        "failed",
    ]
    assert as_utc(rows[slow_running].started_at) == minutes(29)
    assert list(session.scalars(select(OutboxEvent))) == []


def test_a_lost_bulk_analysis_goes_back_to_the_bulk_queue(scope: Scope, now: datetime) -> None:
    # given: an imported track's analysis whose message was lost
    track = make_track(scope)
    lost = make_run(scope, track, status="queued", created_at=now - timedelta(hours=7), queue="analysis.bulk")
    # when
    reap_stuck_analyses(session_scope=scope, cfg=CFG, now=now)
    # then: re-sent behind interactive uploads, not ahead of them
    routes = [
        envelope["properties"]["delivery_info"]["routing_key"]
        for envelope in (json.loads(m.read_text()) for m in settings.queue_dir.glob("*.msg"))
        if json.loads(base64.b64decode(envelope["body"]))[0] == [str(lost)]
    ]
    assert routes == ["analysis.bulk"]


def test_a_requeued_analysis_is_not_requeued_again_within_the_timeout(
    scope: Scope, session: Session, now: datetime
) -> None:
    # given: an analysis the reaper re-queued while its worker, alive but slow, still runs it
    analysis_id = make_overdue_run(scope, now, created_at=now - timedelta(hours=1), attempts=1)
    before = sent_analysis_ids()
    assert reap_stuck_analyses(session_scope=scope, cfg=CFG, now=now).requeued == [analysis_id]
    # when: the reaper runs again, up to a queued timeout later, and nobody took the message meanwhile
    later = [
        reap_stuck_analyses(session_scope=scope, cfg=CFG, now=now + timedelta(seconds=s)).requeued
        for s in (60, TIMEOUT_S + 60, QUEUED_TIMEOUT_S - 60)
    ]
    # then
    assert later == [[], [], []]
    assert sent_since(before) == Counter({str(analysis_id): 1})

    # when: a second worker takes it; a whole timeout after that worker started, it is due again
    with scope() as s:
        job = analysis_run_service.start(s, analysis_id=analysis_id)
    assert job is not None
    assert job.attempt == 2
    run = reloaded(session, AnalysisRun, analysis_id)
    started_at = as_utc(run.started_at)
    assert started_at is not None
    within = reap_stuck_analyses(session_scope=scope, cfg=CFG, now=started_at + timedelta(seconds=TIMEOUT_S - 1))
    after = reap_stuck_analyses(session_scope=scope, cfg=CFG, now=started_at + timedelta(seconds=TIMEOUT_S + 1))
    # then
    assert (within.requeued, after.requeued) == ([], [analysis_id])
    assert sent_since(before) == Counter({str(analysis_id): 2})


@pytest.mark.parametrize(
    ("status", "age", "message"),
    [
        (
            "running",
            timedelta(seconds=TIMEOUT_S + 1),
            "the analysis did not finish after 6 attempts: each one stopped without a result for over 30 min "
            "(the worker may have crashed or run out of memory)",
        ),
        (
            "queued",
            timedelta(seconds=QUEUED_TIMEOUT_S + 1),
            "the analysis was given up after 6 attempts: no worker took it up again within 6 h",
        ),
    ],
)
def test_an_analysis_out_of_attempts_is_failed_with_a_message_and_an_event(
    scope: Scope, session: Session, now: datetime, status: str, age: timedelta, message: str
) -> None:
    # given: the last attempt the settings allow (1 + task_max_retries) was lost too (a running one is found
    # lost now; a queued one was counted when the reaper last re-queued it)
    track = make_track(scope)
    analysis_id = make_run(
        scope,
        track,
        status=status,
        created_at=now - timedelta(days=1),
        started_at=now - age,
        attempts=6,
        lost_attempts=5 if status == "running" else 6,
    )
    before = sent_analysis_ids()
    # when
    result = reap_stuck_analyses(session_scope=scope, cfg=CFG, now=now)
    # then
    assert (result.requeued, result.failed) == ([], [analysis_id])
    assert sent_since(before) == Counter()
    run = reloaded(session, AnalysisRun, analysis_id)
    assert (run.status, run.attempts, run.lost_attempts, run.error_message) == ("failed", 6, 6, message)
    assert run.failure_kind == "permanent"
    assert run.completed_at is not None
    events = [(e.topic, e.payload) for e in session.scalars(select(OutboxEvent))]
    assert events == [
        (
            "analysis.failed",
            {
                "analysis_id": str(analysis_id),
                "track_id": str(track.id),
                "user_id": str(track.user_id),
                "error": message,
            },
        )
    ]


def test_nothing_is_sent_when_the_reaping_transaction_rolls_back(
    session_factory: Callable[[], Session], session: Session, now: datetime
) -> None:
    # given
    scope: Scope = lambda: session_scope(session_factory)  # noqa: E731
    track = make_track(scope)
    analysis_id = make_run(
        scope, track, status="running", created_at=now - timedelta(hours=2), started_at=now - timedelta(hours=1)
    )
    before = sent_analysis_ids()
    # when
    s = session_factory()
    assert reaper.reap(s, now=now, policy=POLICY).requeued == [analysis_id]
    rollback(s)
    s.close()
    # then
    assert sent_since(before) == Counter()
    run = reloaded(session, AnalysisRun, analysis_id)
    assert run.status == "running"


@pytest.fixture(scope="module")
def pg_factory() -> Iterator[sessionmaker[Session]]:
    """A PostgreSQL database of its own: the reapers below commit, each in its own connection."""
    skip_without_postgres()
    url = create_postgres_database()
    migrate(url)
    engine = build_engine(url)
    try:
        yield sessionmaker(bind=engine, expire_on_commit=False)
    finally:
        engine.dispose()
        drop_postgres_database(url)


@pytest.mark.integration
def test_two_reapers_on_postgresql_take_each_analysis_once(pg_factory: sessionmaker[Session], now: datetime) -> None:
    # given: three stuck analyses
    scope: Scope = lambda: session_scope(pg_factory)  # noqa: E731
    track = make_track(scope)
    stuck = [
        make_run(
            scope,
            track,
            status="running",
            created_at=now - timedelta(hours=3, minutes=i),
            started_at=now - timedelta(hours=1),
            attempts=1,
        )
        for i in range(3)
    ]
    oldest_first = list(reversed(stuck))
    before = sent_analysis_ids()
    policy = ReaperPolicy(running_timeout_s=TIMEOUT_S, queued_timeout_s=QUEUED_TIMEOUT_S, max_attempts=6, batch_size=2)
    # when: one reaper holds its batch (not committed yet) while another runs
    first = pg_factory()
    held = reaper.reap(first, now=now, policy=policy)
    with scope() as second:
        meanwhile = reaper.reap(second, now=now, policy=policy)
    commit(first)
    first.close()
    with scope() as third:
        afterwards = reaper.reap(third, now=now, policy=policy)
    # then: the second skipped the locked rows, and nothing was taken twice
    assert held.requeued == oldest_first[:2]
    assert meanwhile.requeued == oldest_first[2:]
    assert afterwards.requeued == []
    assert sent_since(before) == Counter({str(i): 1 for i in stuck})
    with scope() as s:
        statuses = set(s.scalars(select(AnalysisRun.status).where(AnalysisRun.id.in_(stuck))))
    assert statuses == {"queued"}


def run_cli(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("REFTRACK_")}
    return subprocess.run(
        [sys.executable, "-m", "reftrack_cli.main", *args],
        cwd=ROOT,
        env={**clean, "REFTRACK_DATA_DIR": str(data_dir), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_reap_command_reaps_once_in_the_foreground(tmp_path: Path) -> None:
    # given: an embedded data directory with an analysis whose worker was lost two hours ago
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    url = f"sqlite:///{data_dir / 'reftrack.db'}"
    migrate(url)
    engine = build_engine(url)
    scope: Scope = lambda: session_scope(sessionmaker(bind=engine, expire_on_commit=False))  # noqa: E731
    long_ago = utcnow() - timedelta(hours=2)
    analysis_id = make_run(scope, make_track(scope), status="running", created_at=long_ago, started_at=long_ago)
    # when
    result = run_cli("maintenance", "reap", data_dir=data_dir)
    # then
    assert (result.returncode, result.stdout) == (0, "analyses re-queued: 1, failed: 0\n"), result.stderr
    with scope() as s:
        assert s.scalar(select(AnalysisRun.status).where(AnalysisRun.id == analysis_id)) == "queued"
    messages = [json.loads(m.read_text()) for m in (data_dir / "queue").glob("*.msg")]
    assert [json.loads(base64.b64decode(m["body"]))[0] for m in messages] == [[str(analysis_id)]]
    engine.dispose()


def test_an_analysis_retried_through_an_outage_is_not_out_of_attempts(
    scope: Scope, session: Session, now: datetime
) -> None:
    # given: a running analysis whose worker was lost after many attempts that each met an outage
    analysis_id = make_overdue_run(scope, now, created_at=now - timedelta(hours=2), attempts=40)
    before = sent_analysis_ids()
    # when
    result = reap_stuck_analyses(session_scope=scope, cfg=CFG, now=now)
    # then: one lost attempt of six, so it is sent again
    assert (result.requeued, result.failed) == ([analysis_id], [])
    assert sent_since(before) == Counter({str(analysis_id): 1})
    run = reloaded(session, AnalysisRun, analysis_id)
    assert (run.status, run.attempts, run.lost_attempts) == ("queued", 40, 1)


RESEND_AFTER_S = 15 * 60
RESEND_WINDOW_S = 24 * 3600


def test_analyses_failed_by_an_outage_are_sent_again_once_and_permanent_failures_never(
    scope: Scope, session: Session, now: datetime
) -> None:
    # given
    track = make_track(scope)

    def failed(kind: str | None, *, age: timedelta, failed_ago: timedelta) -> uuid.UUID:
        return make_run(
            scope,
            track,
            status="failed",
            created_at=now - age,
            started_at=now - failed_ago - timedelta(minutes=1),
            completed_at=now - failed_ago,
            attempts=45,
            failure_kind=kind,
            queue="analysis.bulk",
        )

    due = failed("transient", age=timedelta(hours=2), failed_ago=timedelta(seconds=RESEND_AFTER_S + 1))
    just_failed = failed("transient", age=timedelta(hours=2), failed_ago=timedelta(seconds=RESEND_AFTER_S - 120))
    too_old = failed("transient", age=timedelta(seconds=RESEND_WINDOW_S + 1), failed_ago=timedelta(hours=3))
    permanent = failed("permanent", age=timedelta(hours=2), failed_ago=timedelta(hours=1))
    before_kinds = failed(None, age=timedelta(hours=2), failed_ago=timedelta(hours=1))
    with scope() as s:
        s.execute(
            AnalysisRun.__table__.update()
            .where(AnalysisRun.id == due)
            .values(error_message="analysis gave up after 45 attempts over 45 min of an outage")
        )
    before = sent_analysis_ids()
    # when: the reaper runs, and again a minute later
    first = reap_stuck_analyses(session_scope=scope, cfg=CFG, now=now)
    second = reap_stuck_analyses(session_scope=scope, cfg=CFG, now=now + timedelta(minutes=1))
    # then: only the due transient failure is sent, once, on its own queue, with a fresh start
    assert (first.requeued, first.failed) == ([due], [])
    assert (second.requeued, second.failed) == ([], [])
    assert sent_since(before) == Counter({str(due): 1})
    session.expire_all()
    rows = {run.id: run for run in session.scalars(select(AnalysisRun))}
    assert (rows[due].status, rows[due].failure_kind, rows[due].completed_at, as_utc(rows[due].started_at)) == (
        "queued",
        None,
        None,
        now,
    )
    assert rows[due].error_message == "analysis gave up after 45 attempts over 45 min of an outage"
    assert [(rows[i].status, rows[i].failure_kind) for i in (just_failed, too_old, permanent, before_kinds)] == [
        ("failed", "transient"),
        ("failed", "transient"),
        ("failed", "permanent"),
        ("failed", None),
    ]
    assert list(session.scalars(select(OutboxEvent))) == []


@pytest.fixture(params=["sqlite", "postgresql"])
def cli_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """An embedded data directory and the database URL the command uses: its SQLite file, or PostgreSQL."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    if request.param == "sqlite":
        url = f"sqlite:///{data_dir / 'reftrack.db'}"
        migrate(url)
        yield data_dir, url
        return
    skip_without_postgres()
    url = create_postgres_database()
    migrate(url)
    try:
        yield data_dir, url
    finally:
        drop_postgres_database(url)


def test_reap_command_fails_and_requeues_with_every_model_loaded(cli_database: tuple[Path, str]) -> None:
    # given: one analysis whose worker was lost twice an hour ago and one lost for the sixth time: failing it
    # writes an outbox event, and that flush needs the users table the command never imported itself
    data_dir, url = cli_database
    engine = build_engine(url)
    scope: Scope = lambda: session_scope(sessionmaker(bind=engine, expire_on_commit=False))  # noqa: E731
    track = make_track(scope)
    long_ago = utcnow() - timedelta(hours=2)
    requeued = make_run(scope, track, status="running", created_at=long_ago, started_at=long_ago, lost_attempts=1)
    failed = make_run(scope, track, status="running", created_at=long_ago, started_at=long_ago, lost_attempts=5)
    env = {} if url.startswith("sqlite") else {"REFTRACK_DATABASE_URL": url}
    # when
    result = run_cli("maintenance", "reap", data_dir=data_dir, env=env)
    # then
    assert (result.returncode, result.stdout) == (0, "analyses re-queued: 1, failed: 1\n"), result.stderr
    with scope() as s:
        rows = {r.id: (r.status, r.lost_attempts, r.failure_kind) for r in s.scalars(select(AnalysisRun))}
        topics = list(s.scalars(select(OutboxEvent.topic)))
    assert rows == {requeued: ("queued", 2, None), failed: ("failed", 6, "permanent")}
    assert topics == ["analysis.failed"]
    engine.dispose()
