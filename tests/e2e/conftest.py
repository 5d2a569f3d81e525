"""Fixtures of the end-to-end tests: process management, generated audio, a fresh PostgreSQL database and the
production topology."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stacks import BPM, ClickWav, ProductionStack, StackFactory, start_production, write_click_wav
from tests.e2e.support import Processes
from tests.fixtures.database import create_postgres_database, drop_postgres_database, skip_without_postgres
from tests.fixtures.storage import S3Server


@pytest.fixture(scope="session")
def click_wav(tmp_path_factory: pytest.TempPathFactory) -> ClickWav:
    """``click_wav(seconds=, seed=)``: the WAV of :func:`write_click_wav`, rendered once per session."""
    folder = tmp_path_factory.mktemp("audio")

    def get(*, seconds: float, seed: int = 0) -> Path:
        path = folder / f"click-{BPM:g}bpm-{seconds:g}s-seed{seed}.wav"
        if not path.exists():
            write_click_wav(path, seconds=seconds, seed=seed)
        return path

    return get


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    logs = tmp_path / "logs"
    logs.mkdir()
    procs = Processes(logs, cwd=tmp_path)
    try:
        yield procs
    finally:
        procs.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    skip_without_postgres()
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture
def start_stack(tmp_path: Path, processes: Processes, postgres_url: str, s3_server: S3Server) -> Iterator[StackFactory]:
    """``start_stack(broker_url=..., extra_env=...)`` starts the production topology for this test; every
    process is stopped and the engine disposed before the database is dropped."""
    stacks: list[ProductionStack] = []

    def start(*, broker_url: str, extra_env: dict[str, str] | None = None) -> ProductionStack:
        stacks.append(
            start_production(
                tmp_path=tmp_path,
                processes=processes,
                postgres_url=postgres_url,
                broker_url=broker_url,
                s3_server=s3_server,
                extra_env=extra_env,
            )
        )
        return stacks[-1]

    try:
        yield start
    finally:
        processes.close()
        for stack in stacks:
            stack.engine.dispose()
