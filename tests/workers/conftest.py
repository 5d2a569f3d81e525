"""Fixtures shared by the worker tests."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.storage import LocalStorage
from tests.fixtures.app import Account
from tests.workers.flow import Flow


@pytest.fixture
def flow(
    client: TestClient,
    alice: Account,
    local_storage: LocalStorage,
    scope: Callable[[], AbstractContextManager[Session]],
    tmp_path: Path,
) -> Flow:
    return Flow(client=client, account=alice, storage=local_storage, scope=scope, tmp_dir=tmp_path / "work")
