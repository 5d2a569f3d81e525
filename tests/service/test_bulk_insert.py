"""Bulk inserts: a binary COPY on PostgreSQL and one executemany on SQLite, in the caller's transaction."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisEvent, AnalysisRun, FrameData, FrameManifest
from service.db import bulk_insert
from service.track.models import Track
from service.user.models import User


def make_analysis(session: Session) -> AnalysisRun:
    user = User(email=f"{uuid.uuid4().hex[:8]}@example.com")
    session.add(user)
    session.flush()
    track = Track(
        user_id=user.id,
        title="t",
        storage_key="k",
        size_bytes=1,
        content_sha256=hashlib.sha256(user.email.encode()).hexdigest(),
    )
    session.add(track)
    session.flush()
    run = AnalysisRun(track_id=track.id, user_id=user.id)
    session.add(run)
    session.flush()
    return run


def event_rows(run: AnalysisRun, n: int) -> list[dict[str, Any]]:
    """Events whose NULL columns change from row to row, as a real analysis' do."""
    return [
        {
            "id": uuid.uuid4(),
            "analysis_id": run.id,
            "track_id": run.track_id,
            "user_id": run.user_id,
            "event_type": ("onset", "beat", "section")[i % 3],
            "time_seconds": i * 0.25,
            "duration_seconds": 8.0 if i % 3 == 2 else None,
            "value": None if i % 2 else float(i),
            "confidence": 0.5 if i % 5 == 0 else None,
            "label": "A" if i % 3 == 2 else None,
            "payload": {"role": "verse", "index": i, "name": "é"} if i % 4 == 0 else None,
        }
        for i in range(n)
    ]


def test_rows_come_back_exactly_as_written(session: Session) -> None:
    # given
    run = make_analysis(session)
    rows = event_rows(run, 1500)  # more than one batch of a multi-row INSERT
    # when
    bulk_insert(session, AnalysisEvent, rows)
    # then
    stored = {e.id: e for e in session.scalars(select(AnalysisEvent).where(AnalysisEvent.analysis_id == run.id)).all()}
    assert len(stored) == len(rows)
    for row in rows:
        event = stored[row["id"]]
        assert {k: getattr(event, k) for k in row} == row


def test_a_missing_payload_is_sql_null_not_json_null(session: Session) -> None:
    # given
    run = make_analysis(session)
    rows = event_rows(run, 8)
    # when
    bulk_insert(session, AnalysisEvent, rows)
    # then: what readers filter on with IS NULL
    nulls = session.scalar(
        text("SELECT count(*) FROM analysis_events WHERE payload IS NULL AND analysis_id = :a"),
        {"a": run.id if session.bind.dialect.name == "postgresql" else run.id.hex},  # type: ignore[union-attr]
    )
    assert nulls == sum(1 for r in rows if r["payload"] is None)


def test_column_defaults_fill_the_columns_a_row_leaves_out(session: Session) -> None:
    # given: manifests without id or created_at
    run = make_analysis(session)
    before = datetime.now(UTC)
    rows = [
        {
            "analysis_id": run.id,
            "user_id": run.user_id,
            "feature": name,
            "unit": None,
            "description": None,
            "frame_rate": 43.0,
            "hop_seconds": 1 / 43.0,
            "n_frames": 10,
            "dimensions": 1,
            "dtype": "float16",
            "encoding": "float16-le",
            "scale": None,
            "offset": None,
            "chunk_frames": 2048,
            "n_chunks": 1,
        }
        for name in ("rms", "chroma")
    ]
    # when
    bulk_insert(session, FrameManifest, rows)
    # then
    manifests = session.scalars(select(FrameManifest).where(FrameManifest.analysis_id == run.id)).all()
    assert sorted(m.feature for m in manifests) == ["chroma", "rms"]
    assert len({m.id for m in manifests}) == 2
    for m in manifests:
        created = m.created_at if m.created_at.tzinfo else m.created_at.replace(tzinfo=UTC)
        assert before - timedelta(seconds=1) <= created <= datetime.now(UTC) + timedelta(seconds=1)


def test_binary_chunks_round_trip(session: Session) -> None:
    # given
    run = make_analysis(session)
    manifest = FrameManifest(
        analysis_id=run.id,
        user_id=run.user_id,
        feature="mfcc",
        frame_rate=43.0,
        hop_seconds=1 / 43.0,
        n_frames=3,
        dimensions=1,
        dtype="float16",
        encoding="float16-le",
        chunk_frames=2048,
        n_chunks=3,
    )
    session.add(manifest)
    session.flush()
    blobs = [bytes(range(256)) * 200, b"\x00", b"\\x00'\"\n"]
    rows = [
        {
            "id": uuid.uuid4(),
            "manifest_id": manifest.id,
            "user_id": run.user_id,
            "chunk_index": i,
            "start_frame": i,
            "n_frames": 1,
            "data": blob,
        }
        for i, blob in enumerate(blobs)
    ]
    # when
    bulk_insert(session, FrameData, rows)
    # then
    stored = session.scalars(
        select(FrameData.data).where(FrameData.manifest_id == manifest.id).order_by(FrameData.chunk_index)
    ).all()
    assert [bytes(b) for b in stored] == blobs


def test_rows_with_different_keys_are_refused(session: Session) -> None:
    # given
    run = make_analysis(session)
    rows = event_rows(run, 3)
    del rows[2]["payload"]
    # then
    with pytest.raises(ValueError, match="every row needs exactly the keys"):
        bulk_insert(session, AnalysisEvent, rows)


def test_rows_belong_to_the_callers_transaction(session: Session) -> None:
    # given
    run = make_analysis(session)
    session.commit()
    # when
    bulk_insert(session, AnalysisEvent, event_rows(run, 50))
    session.rollback()
    # then
    assert session.scalar(select(func.count()).where(AnalysisEvent.analysis_id == run.id)) == 0


def test_no_rows_is_nothing_to_do(session: Session) -> None:
    # when / then: not even a statement, so not even a connection is needed
    bulk_insert(session, AnalysisEvent, [])
    assert session.scalar(select(func.count()).select_from(AnalysisEvent)) == 0
