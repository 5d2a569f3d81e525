"""Tracks for the annotation and region tests: short uploaded clips whose analysis stays queued."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisEvent, AnalysisRun
from tests.fixtures.app import Account
from tests.fixtures.audio import click_track, write_audio

CLIP_SECONDS = 10.0


@dataclass(frozen=True)
class Track:
    id: str
    duration_s: float
    owner: Account

    @property
    def url(self) -> str:
        return f"/v1/tracks/{self.id}"


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two different 10 s WAV clips (different bytes, so two uploads are two tracks)."""
    folder = tmp_path_factory.mktemp("annotation-clips")
    return {
        "a": write_audio(folder / "a.wav", click_track(bpm=120, seconds=CLIP_SECONDS, sr=22050), 22050, "wav"),
        "b": write_audio(folder / "b.wav", click_track(bpm=100, seconds=CLIP_SECONDS, sr=22050, seed=1), 22050, "wav"),
    }


def upload_track(client: TestClient, account: Account, path: Path) -> Track:
    with path.open("rb") as fh:
        response = client.post("/v1/tracks", headers=account.headers, files={"file": (path.name, fh)})
    assert response.status_code == 202, response.text
    body = response.json()
    return Track(id=body["id"], duration_s=float(body["duration_seconds"]), owner=account)


@pytest.fixture
def track(client: TestClient, alice: Account, clips: dict[str, Path]) -> Track:
    """Alice's 10 s track; its analysis is queued, never run."""
    return upload_track(client, alice, clips["a"])


@pytest.fixture
def second_track(client: TestClient, alice: Account, clips: dict[str, Path]) -> Track:
    """Another of Alice's tracks, for imports and round trips."""
    return upload_track(client, alice, clips["b"])


@pytest.fixture
def bobs_track(client: TestClient, bob: Account, clips: dict[str, Path]) -> Track:
    return upload_track(client, bob, clips["a"])


def finish_analysis(session: Session, track: Track, events: list[dict[str, Any]]) -> None:
    """Mark the track's queued analysis succeeded with the given events, as a worker would have stored them."""
    run = session.scalars(select(AnalysisRun).where(AnalysisRun.track_id == uuid.UUID(track.id))).one()
    run.status = "succeeded"
    run.completed_at = datetime.now(UTC)
    session.add_all(
        AnalysisEvent(analysis_id=run.id, track_id=run.track_id, user_id=run.user_id, **event) for event in events
    )
    session.commit()


def post(client: TestClient, account: Account, url: str, body: Any, **params: str) -> tuple[int, Any]:
    response = client.post(url, headers=account.headers, json=body, params=params)
    return response.status_code, response.json()


def patch(client: TestClient, account: Account, url: str, body: Any, **params: str) -> tuple[int, Any]:
    response = client.patch(url, headers=account.headers, json=body, params=params)
    return response.status_code, response.json()


def get(client: TestClient, account: Account, url: str, **params: Any) -> tuple[int, Any]:
    response = client.get(url, headers=account.headers, params=params)
    return response.status_code, response.json()
