"""The systems under test, as the end-to-end tests build them: generated reference audio with known answers, and
the production topology (PostgreSQL, a broker, an S3 bucket, a separate worker and the API, all real)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from service.storage import S3Storage
from tests.e2e.support import Proc, Processes, clean_env, cli, run_cli, wait_healthy
from tests.fixtures.audio import click_track, write_audio
from tests.fixtures.storage import S3Server, free_port, make_s3_storage

BPM = 120.0
KEY = "A minor"
SR = 44100


def write_click_wav(path: Path, *, seconds: float, seed: int = 0) -> Path:
    """A stereo 16-bit WAV of the drum pattern at :data:`BPM` in :data:`KEY` (``seed`` changes its bytes)."""
    return write_audio(path, click_track(bpm=BPM, seconds=seconds, sr=SR, key=KEY, seed=seed), SR, "wav")


ClickWav = Callable[..., Path]


@dataclass
class ProductionStack:
    """The API, one worker, PostgreSQL, a broker and an S3 bucket, all real."""

    env: dict[str, str]
    processes: Processes
    engine: Engine
    storage: S3Storage
    base_url: str
    token: str
    serve: Proc | None
    worker: Proc | None

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60)

    def start_worker(self) -> Proc:
        self.worker = self.processes.start(
            "worker", cli("worker", "--concurrency=1", "--without-mingle", "--without-gossip"), self.env
        )
        return self.worker

    def object_keys(self, prefix: str = "") -> list[str]:
        listing = self.storage.client.list_objects_v2(Bucket=self.storage.bucket, Prefix=prefix)
        return sorted(obj["Key"] for obj in listing.get("Contents", []))


def start_production(
    *,
    tmp_path: Path,
    processes: Processes,
    postgres_url: str,
    broker_url: str,
    s3_server: S3Server,
    extra_env: dict[str, str] | None = None,
) -> ProductionStack:
    """Start a worker, migrate, create a user with ``reftrack users create``, start the API, wait for both."""
    bucket = f"reftrack-e2e-{uuid.uuid4().hex[:12]}"
    storage = make_s3_storage(s3_server, bucket)
    port = free_port()
    env = clean_env(
        {
            "REFTRACK_ENVIRONMENT": "production",
            "REFTRACK_DATA_DIR": str(tmp_path / "data"),
            "REFTRACK_DATABASE_URL": postgres_url,
            "REFTRACK_BROKER_URL": broker_url,
            **s3_server.env(bucket),
            **(extra_env or {}),
        }
    )
    stack = ProductionStack(
        env=env,
        processes=processes,
        engine=create_engine(postgres_url),
        storage=storage,
        base_url=f"http://127.0.0.1:{port}",
        token="",
        serve=None,
        worker=None,
    )
    # The worker needs the schema only once a task arrives, so it boots while the database is prepared.
    worker = stack.start_worker()
    run_cli(cli("migrate"), env, tmp_path)
    stack.token = run_cli(cli("users", "create", "someone@example.com"), env, tmp_path).strip().splitlines()[-1]
    assert stack.token.startswith("rt_"), stack.token
    stack.serve = serve = processes.start("serve", cli("serve", "--port", str(port)), env)
    body = wait_healthy(stack.base_url, processes, [serve, worker])
    assert body["checks"] == {"database": "ok", "storage": "ok", "broker": "ok"}
    return stack


StackFactory = Callable[..., ProductionStack]
