"""``reftrack reanalyze --stale|--failed|--all``: which tracks get a new analysis, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from analysis import ANALYZER_VERSION
from reftrack_cli.library_import import run_reanalyze
from service.analysis_run.models import AnalysisRun
from service.analysis_run.repository import analysis_run_repository
from service.db import session_scope
from service.track.models import Track
from tests.fixtures.app import Account
from tests.service.library_import.conftest import sent_tasks

OLD_VERSION = "0.0.9"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)

# Each track's analyses, oldest first, as (status, analyzer version).
HISTORIES: dict[str, list[tuple[str, str | None]]] = {
    "stale": [("succeeded", OLD_VERSION)],
    "current": [("succeeded", ANALYZER_VERSION)],
    "stale but queued": [("succeeded", OLD_VERSION), ("queued", None)],
    "stale but running": [("succeeded", OLD_VERSION), ("running", None)],
    "failed": [("succeeded", ANALYZER_VERSION), ("failed", ANALYZER_VERSION)],
    "stale then failed": [("succeeded", OLD_VERSION), ("failed", None)],
    "old stale, new current": [("succeeded", OLD_VERSION), ("succeeded", ANALYZER_VERSION)],
    "unversioned": [("succeeded", None)],
    "failed only": [("failed", None)],
    "never analysed": [],
}


History = list[tuple[str, str | None]]


def seed(session_factory: Callable[[], Session], owner: Account, histories: dict[str, History]) -> dict[str, uuid.UUID]:
    ids = {}
    with session_scope(session_factory) as s:
        for n, (title, history) in enumerate(histories.items()):
            track_id = uuid.uuid4()
            s.add(
                Track(
                    id=track_id,
                    user_id=owner.user.id,
                    title=title,
                    storage_key=f"tracks/{owner.user.id}/{track_id}/original.wav",
                    size_bytes=1000,
                    content_sha256=hashlib.sha256(track_id.bytes).hexdigest(),
                    created_at=T0 + timedelta(seconds=n),
                )
            )
            s.flush()
            for i, (status, version) in enumerate(history):
                at = T0 + timedelta(hours=i + 1)
                s.add(
                    AnalysisRun(
                        track_id=track_id,
                        user_id=owner.user.id,
                        status=status,
                        analyzer_version=version,
                        attempts=1 if status != "queued" else 0,
                        results={"bpm": 120.0} if status == "succeeded" else None,
                        created_at=at,
                        completed_at=at + timedelta(minutes=1) if status in ("succeeded", "failed") else None,
                    )
                )
            ids[title] = track_id
    return ids


def reanalyze(
    session_factory: Callable[[], Session], *flags: str, user: Account | None = None, chunk_size: int = 2
) -> dict[str, object]:
    out = io.StringIO()
    code = run_reanalyze(
        flags[0],
        user_email=user.user.email if user is not None else None,
        session_scope=lambda: session_scope(session_factory),
        console=Console(file=io.StringIO()),
        out=out,
        fmt="json",
        chunk_size=chunk_size,
    )
    assert code == 0
    result: dict[str, object] = json.loads(out.getvalue())
    return result


def new_runs(session: Session, since: datetime) -> dict[uuid.UUID, AnalysisRun]:
    runs = session.scalars(select(AnalysisRun).where(AnalysisRun.created_at > since))
    return {r.track_id: r for r in runs}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("stale", {"stale", "stale then failed", "unversioned"}),
        ("failed", {"failed", "stale then failed", "failed only"}),
        ("all", set(HISTORIES) - {"stale but queued", "stale but running"}),
    ],
)
def test_each_mode_queues_exactly_the_tracks_it_selects(
    session_factory: Callable[[], Session], session: Session, alice: Account, mode: str, expected: set[str]
) -> None:
    # given
    ids = seed(session_factory, alice, HISTORIES)
    cutoff = T0 + timedelta(days=1)
    before = set(sent_tasks("track.analyze"))
    # when
    result = reanalyze(session_factory, mode)
    # then
    assert result == {
        "mode": mode,
        "analyzer_version": ANALYZER_VERSION,
        "selected": len(expected),
        "queued": len(expected),
        "unsent": 0,
    }
    runs = new_runs(session, cutoff)
    assert {title for title, track_id in ids.items() if track_id in runs} == expected
    assert {(r.status, r.attempts, r.analyzer_version) for r in runs.values()} == {("queued", 0, None)}
    sent = [m for m in sent_tasks("track.analyze") if m not in before]
    assert sorted(sent) == sorted((str(r.id), "analysis.bulk") for r in runs.values())


def test_running_it_again_queues_nothing_more(
    session_factory: Callable[[], Session], session: Session, alice: Account
) -> None:
    # given
    seed(session_factory, alice, HISTORIES)
    reanalyze(session_factory, "stale")
    # when
    again = reanalyze(session_factory, "stale")
    # then
    assert (again["selected"], again["queued"]) == (0, 0)
    assert len(new_runs(session, T0 + timedelta(days=1))) == 3


def test_the_previous_analysis_stays_readable_until_the_new_one_succeeds(
    session_factory: Callable[[], Session], session: Session, alice: Account
) -> None:
    # given
    ids = seed(session_factory, alice, {"stale": HISTORIES["stale"]})
    old = session.scalars(select(AnalysisRun).where(AnalysisRun.track_id == ids["stale"])).one()
    # when
    reanalyze(session_factory, "stale")
    # then
    readable = analysis_run_repository.latest_succeeded_for_track(session, track_id=ids["stale"], user_id=alice.user.id)
    assert readable is not None
    assert (readable.id, readable.analyzer_version, readable.results) == (old.id, OLD_VERSION, {"bpm": 120.0})
    latest = analysis_run_repository.latest_for_track(session, track_id=ids["stale"], user_id=alice.user.id)
    assert latest is not None
    assert latest.status == "queued"


def test_user_limits_the_selection_to_their_tracks(
    session_factory: Callable[[], Session], session: Session, alice: Account, bob: Account
) -> None:
    # given
    alices = seed(session_factory, alice, {"alice stale": HISTORIES["stale"]})
    bobs = seed(session_factory, bob, {"bob stale": HISTORIES["stale"]})
    cutoff = T0 + timedelta(days=1)
    # when
    only_bob = reanalyze(session_factory, "stale", user=bob)
    # then
    assert only_bob["queued"] == 1
    assert set(new_runs(session, cutoff)) == {bobs["bob stale"]}
    # when
    everyone = reanalyze(session_factory, "stale")
    # then
    assert everyone["queued"] == 1
    assert set(new_runs(session, cutoff)) == {bobs["bob stale"], alices["alice stale"]}


def test_an_unknown_user_is_an_error(session_factory: Callable[[], Session], session: Session) -> None:
    # given
    console = io.StringIO()
    # when
    code = run_reanalyze(
        "all",
        user_email="nobody@example.com",
        session_scope=lambda: session_scope(session_factory),
        console=Console(file=console, width=200),
        out=io.StringIO(),
    )
    # then
    assert code == 1
    assert console.getvalue() == "error: no user with email 'nobody@example.com'\n"
