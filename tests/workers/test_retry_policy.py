"""The task base class: outages are retried with capped exponential backoff within a time budget, anything else
fails at once, and the analysis records which of the two it was."""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from celery import Celery
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from analysis.errors import AnalysisError
from service.analysis_run.flows import mark_failed, mark_retrying
from service.analysis_run.models import AnalysisRun
from service.analysis_run.service import analysis_run as analysis_run_service
from service.config import Settings
from service.library_import.models import LibraryImport
from service.library_import.service import ImportBusy
from service.outbox.models import OutboxEvent
from tests.fixtures.database import reloaded
from tests.service.analysis_run.test_reaper import make_run, make_track
from workers.base import AnalysisTask, ReftrackTask, RetryPolicy
from workers.tasks import ImportTask, analyze_track, import_library

Scope = Callable[[], AbstractContextManager[Session]]
POLICY = RetryPolicy(budget_s=45 * 60.0, backoff_s=2.0, backoff_max_s=60.0)


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    assert [POLICY.backoff(n) for n in range(8)] == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    assert POLICY.backoff(10_000) == 60.0


def test_the_budget_outlasts_a_ten_minute_outage_and_todays_36_seconds() -> None:
    # given: the retries the default policy makes before it gives up
    retries = next(n for n in range(1000) if POLICY.delay(n) is None)
    # then: 2+4+8+16+32 s, then a minute at a time, until another minute would pass 45 min
    assert retries == 5 + 43
    assert POLICY.waited(retries) == 62.0 + 43 * 60.0
    assert POLICY.waited(retries) + POLICY.backoff(retries) > POLICY.budget_s >= POLICY.waited(retries)
    assert POLICY.waited(retries) > 10 * 60


def test_jitter_only_lengthens_a_delay_by_up_to_a_quarter() -> None:
    rng = random.Random(7)
    delays = [POLICY.delay(6, rng=rng) for _ in range(200)]
    assert all(d is not None and 60.0 <= d <= 75.0 for d in delays)


def test_the_policy_comes_from_the_settings() -> None:
    cfg = Settings(_env_file=None, task_retry_budget_s=600, task_retry_backoff_s=1, task_retry_backoff_max_s=10)
    assert RetryPolicy.from_settings(cfg) == RetryPolicy(budget_s=600.0, backoff_s=1.0, backoff_max_s=10.0)
    assert Settings(_env_file=None).task_retry_budget_s == 2700.0


class Recorder:
    def __init__(self) -> None:
        self.calls = 0
        self.retried: list[str] = []
        self.gave_up: list[tuple[str, bool]] = []


@pytest.fixture
def eager() -> tuple[Celery, Recorder]:
    app = Celery("retry-test", set_as_current=False)
    app.conf.update(task_always_eager=True, task_eager_propagates=False, result_backend=None)
    return app, Recorder()


def make_task(app: Celery, recorder: Recorder, failures: list[BaseException], policy: RetryPolicy) -> Any:
    class Recorded(ReftrackTask):  # type: ignore[misc]
        abstract = True
        retry_also = (ImportBusy,)

        def on_retrying(self, exc: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            recorder.retried.append(type(exc).__name__)

        def on_gave_up(
            self, exc: BaseException, args: tuple[Any, ...], kwargs: dict[str, Any], *, reason: str, transient: bool
        ) -> None:
            recorder.gave_up.append((reason, transient))

    Recorded.policy = policy

    @app.task(name=f"test.flaky.{uuid.uuid4().hex}", base=Recorded, bind=True)
    def flaky(self: ReftrackTask) -> int:
        recorder.calls += 1
        if failures:
            raise failures.pop(0)
        return int(self.request.retries)

    return flaky


def _storage_down() -> EndpointConnectionError:
    return EndpointConnectionError(endpoint_url="http://127.0.0.1:9")


def _database_down() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_outages_are_retried_until_the_work_succeeds(eager: tuple[Celery, Recorder]) -> None:
    # given: storage down twice, the database once, another runner busy once
    app, recorder = eager
    failures: list[BaseException] = [_storage_down(), _storage_down(), _database_down(), ImportBusy("busy")]
    task = make_task(app, recorder, failures, POLICY)
    # when
    result = task.apply()
    # then
    assert (result.state, result.result) == ("SUCCESS", 4)
    assert recorder.calls == 5
    assert recorder.retried == [
        "EndpointConnectionError",
        "EndpointConnectionError",
        "OperationalError",
        "ImportBusy",
    ]
    assert recorder.gave_up == []


@pytest.mark.parametrize(
    "exc",
    [
        AnalysisError("not audio"),
        ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "GetObject"),
        ValueError("a bug"),
    ],
)
def test_permanent_failures_fail_at_once(eager: tuple[Celery, Recorder], exc: BaseException) -> None:
    # given
    app, recorder = eager
    task = make_task(app, recorder, [exc], POLICY)
    # when
    result = task.apply()
    # then
    assert result.state == "FAILURE"
    assert recorder.calls == 1
    assert recorder.retried == []
    assert recorder.gave_up == [(f"{type(exc).__name__}: {exc}", False)]


def test_an_outage_longer_than_the_budget_fails_as_transient(eager: tuple[Celery, Recorder]) -> None:
    # given: a 10 s budget of 1, 2, 4 s backoffs (then 8 s would pass it)
    app, recorder = eager
    policy = RetryPolicy(budget_s=10.0, backoff_s=1.0, backoff_max_s=60.0)
    task = make_task(app, recorder, [_storage_down() for _ in range(10)], policy)
    # when
    result = task.apply()
    # then
    assert result.state == "FAILURE"
    assert recorder.calls == 4
    assert recorder.retried == ["EndpointConnectionError"] * 3
    assert recorder.gave_up == [
        (
            "gave up after 4 attempts over 0 min of an outage: EndpointConnectionError: Could not connect to the "
            'endpoint URL: "http://127.0.0.1:9"',
            True,
        )
    ]


def test_the_real_tasks_use_the_base_classes() -> None:
    assert isinstance(analyze_track, ReftrackTask)
    assert isinstance(import_library, ImportTask)
    assert analyze_track.max_retries is None
    assert import_library.retry_also == (ImportBusy,)
    assert analyze_track.acks_late is True


def test_an_analysis_records_retries_and_how_it_failed(scope: Scope, session: Session) -> None:
    # given: a running analysis
    track = make_track(scope)
    analysis_id = make_run(scope, track, status="queued", created_at=track.created_at)
    with scope() as s:
        assert analysis_run_service.start(s, analysis_id=analysis_id) is not None
    # when: an attempt meets an outage
    mark_retrying(analysis_id, session_scope=scope, message="attempt 1 met an outage and will be retried: X")
    run = reloaded(session, AnalysisRun, analysis_id)
    # then: it waits in the queue, with the reason readable
    assert (run.status, run.attempts, run.lost_attempts, run.error_message) == (
        "queued",
        1,
        0,
        "attempt 1 met an outage and will be retried: X",
    )
    # when: the next attempt starts and the outage outlasts the budget
    with scope() as s:
        assert analysis_run_service.start(s, analysis_id=analysis_id) is not None
    mark_failed(analysis_id, session_scope=scope, message="analysis gave up", kind="transient")
    # then
    run = reloaded(session, AnalysisRun, analysis_id)
    assert (run.status, run.attempts, run.lost_attempts, run.failure_kind, run.error_message) == (
        "failed",
        2,
        0,
        "transient",
        "analysis gave up",
    )
    assert [e.topic for e in session.scalars(select(OutboxEvent))] == ["analysis.failed"]


def on_test_database(task_class: type[ReftrackTask], scope: Scope) -> ReftrackTask:
    """An instance of ``task_class`` that records its state in the test's database."""

    class OnTestDatabase(task_class):  # type: ignore[valid-type,misc]
        def scope(self) -> AbstractContextManager[Session]:
            return scope()

    OnTestDatabase.bind(Celery("records-test", set_as_current=False))
    task = OnTestDatabase()
    task.push_request(retries=0)
    return task


def make_import(scope: Scope, *, status: str = "running") -> uuid.UUID:
    track = make_track(scope)
    with scope() as s:
        record = LibraryImport(user_id=track.user_id, source="s3://music/", origin="api", status=status)
        s.add(record)
    return record.id


def test_an_import_that_stops_for_good_is_failed_with_the_reason(scope: Scope, session: Session) -> None:
    # given
    import_id = make_import(scope)
    task = on_test_database(ImportTask, scope)
    # when: the outage outlasted the budget
    task.on_gave_up(
        _storage_down(),
        (str(import_id),),
        {},
        reason="gave up after 49 attempts over 44 min of an outage",
        transient=True,
    )
    # then
    record = reloaded(session, LibraryImport, import_id)
    assert (record.status, record.error_message) == (
        "failed",
        "the import stopped: gave up after 49 attempts over 44 min of an outage; import the source again to "
        "continue where it stopped",
    )
    assert record.finished_at is not None


def test_an_import_another_runner_still_holds_is_left_to_it(scope: Scope, session: Session) -> None:
    # given
    import_id = make_import(scope)
    task = on_test_database(ImportTask, scope)
    # when: the other runner kept it for longer than the budget
    task.on_gave_up(ImportBusy("busy"), (str(import_id),), {}, reason="ImportBusy: busy", transient=True)
    # then
    record = reloaded(session, LibraryImport, import_id)
    assert (record.status, record.error_message) == ("running", None)


def test_the_analysis_task_records_a_retry_and_a_transient_failure(scope: Scope, session: Session) -> None:
    # given: a running analysis
    track = make_track(scope)
    analysis_id = make_run(scope, track, status="queued", created_at=track.created_at)
    with scope() as s:
        assert analysis_run_service.start(s, analysis_id=analysis_id) is not None
    task = on_test_database(AnalysisTask, scope)
    # when: the attempt meets an outage (the first attempt: no retries in the request yet)
    task.on_retrying(_storage_down(), (str(analysis_id),), {})
    run = reloaded(session, AnalysisRun, analysis_id)
    assert (run.status, run.error_message) == (
        "queued",
        "attempt 1 met an outage and will be retried: EndpointConnectionError: Could not connect to the endpoint "
        'URL: "http://127.0.0.1:9"',
    )
    # when: the outage outlasts the budget
    task.on_gave_up(_database_down(), (str(analysis_id),), {}, reason="gave up after 49 attempts", transient=True)
    # then
    run = reloaded(session, AnalysisRun, analysis_id)
    assert (run.status, run.failure_kind, run.error_message) == (
        "failed",
        "transient",
        "analysis gave up after 49 attempts",
    )
