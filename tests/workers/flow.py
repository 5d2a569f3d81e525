"""A track uploaded through the API and the worker's analysis flow run on it, for the worker tests."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.analysis_run.flows import run_analysis
from service.storage import LocalStorage
from tests.fixtures.app import Account


@dataclass(frozen=True)
class Flow:
    """Alice uploading through the API, and the worker's analysis flow run eagerly on what she uploaded."""

    client: TestClient
    account: Account
    storage: LocalStorage
    scope: Callable[[], AbstractContextManager[Session]]
    tmp_dir: Path

    def upload(self, path: Path) -> dict[str, Any]:
        """The track created by uploading ``path``, as the API answers it (its queued analysis included)."""
        with path.open("rb") as fh:
            response = self.client.post("/v1/tracks", headers=self.account.headers, files={"file": (path.name, fh)})
        assert response.status_code == 202, response.text
        track: dict[str, Any] = response.json()
        return track

    def run(self, analysis_id: str | uuid.UUID) -> str:
        """What the worker task does with the analysis id it receives: the state the analysis ended in."""
        return run_analysis(
            uuid.UUID(str(analysis_id)), session_scope=self.scope, storage=self.storage, tmp_dir=self.tmp_dir
        )

    def analysis(self, track: dict[str, Any]) -> dict[str, Any]:
        """The track's analysis as its owner reads it from the API."""
        response = self.client.get(f"/v1/tracks/{track['id']}/analysis", headers=self.account.headers)
        assert response.status_code == 200, response.text
        analysis: dict[str, Any] = response.json()
        return analysis
