"""Library rows written straight to the database, for listing tests that need many tracks with chosen values."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisRun
from service.db import session_scope
from service.track.models import Track
from tests.fixtures.app import Account

BASE_TIME = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def seed_tracks(session_factory: Callable[[], Session], owner: Account, rows: list[dict[str, Any]]) -> list[Track]:
    """One track per dict of column values; unless given, ``created_at`` is a second apart in list order."""
    tracks = []
    with session_scope(session_factory) as s:
        for index, values in enumerate(rows):
            track_id = values.pop("id", None) or uuid.uuid4()
            track = Track(
                id=track_id,
                user_id=owner.user.id,
                storage_key=f"tracks/{owner.user.id}/{track_id}/original.wav",
                file_format="wav",
                size_bytes=1000 + index,
                content_sha256=hashlib.sha256(str(track_id).encode()).hexdigest(),
                created_at=values.pop("created_at", BASE_TIME + timedelta(seconds=index)),
                metadata_={"original_filename": "seeded.wav", "codec": "pcm_s16le"},
                **{"title": f"track {index:02d}", **values},
            )
            s.add(track)
            tracks.append(track)
    return tracks


def seed_runs(session_factory: Callable[[], Session], track: Track, statuses: list[str]) -> list[AnalysisRun]:
    """Analyses of ``track`` in the given order, oldest first; the last one is the track's latest."""
    runs = []
    with session_scope(session_factory) as s:
        for index, status in enumerate(statuses):
            run = AnalysisRun(
                track_id=track.id,
                user_id=track.user_id,
                status=status,
                parameters={},
                attempts=0,
                created_at=BASE_TIME + timedelta(minutes=index),
            )
            s.add(run)
            runs.append(run)
    return runs
