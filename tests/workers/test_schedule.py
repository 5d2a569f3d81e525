"""The periodic jobs: what beat sends where, and that workers consume their queue and know the tasks."""

from __future__ import annotations

from reftrack_cli.main import _worker_argv
from service.config import Settings
from service.queue import MAINTENANCE_QUEUE, REAP_TASK, RELAY_TASK, SWEEP_TASK, beat_schedule


def test_beat_sends_every_job_to_the_maintenance_queue_and_their_ticks_expire() -> None:
    # given
    cfg = Settings(_env_file=None, webhook_url="http://hooks.example/reftrack")
    # when
    schedule = beat_schedule(cfg)
    # then
    assert schedule == {
        REAP_TASK: {"task": REAP_TASK, "schedule": 60.0, "options": {"queue": MAINTENANCE_QUEUE, "expires": 60.0}},
        RELAY_TASK: {"task": RELAY_TASK, "schedule": 5.0, "options": {"queue": MAINTENANCE_QUEUE, "expires": 60.0}},
        SWEEP_TASK: {
            "task": SWEEP_TASK,
            "schedule": 3600.0,
            "options": {"queue": MAINTENANCE_QUEUE, "expires": 3600.0},
        },
    }


def test_relay_is_not_scheduled_without_a_destination_and_intervals_of_zero_turn_jobs_off() -> None:
    assert set(beat_schedule(Settings(_env_file=None))) == {REAP_TASK, SWEEP_TASK}
    assert beat_schedule(Settings(_env_file=None, reaper_interval_s=0, tmp_sweep_interval_s=0)) == {}


def test_workers_consume_the_maintenance_queue_and_register_the_jobs() -> None:
    from workers.celery_app import app

    app.loader.import_default_modules()
    assert "--queues=maintenance,analysis,analysis.bulk" in _worker_argv()
    assert {REAP_TASK, RELAY_TASK, SWEEP_TASK} <= set(app.tasks)
