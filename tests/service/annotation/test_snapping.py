"""Snapping annotation and region times to the beats and bars of the real analysis of a 120 BPM click track."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.analysis_run.models import AnalysisEvent
from service.annotation.models import TrackAnnotation, TrackRegion
from tests.fixtures.analysed import AnalysedTrack
from tests.fixtures.app import Account
from tests.service.annotation.conftest import Track, patch, post


def grid(session: Session, analysed: AnalysedTrack, event_type: str) -> list[float]:
    stmt = (
        select(AnalysisEvent.time_seconds)
        .where(AnalysisEvent.analysis_id == uuid.UUID(analysed.analysis_id), AnalysisEvent.event_type == event_type)
        .order_by(AnalysisEvent.time_seconds)
    )
    return list(session.scalars(stmt))


def nearest(times: list[float], t: float) -> float:
    return min(times, key=lambda g: abs(g - t))


def test_the_analysis_found_the_click_track_grid(session: Session, analysed_track: AnalysedTrack) -> None:
    # then: beats every half second and bars every two, as the snapping tests below rely on
    beats = grid(session, analysed_track, "beat")
    bars = grid(session, analysed_track, "downbeat")
    assert len(beats) == 49
    assert len(bars) == 13
    assert beats == pytest.approx([0.5 * k for k in range(49)], abs=0.03)
    assert bars == pytest.approx([2.0 * k for k in range(13)], abs=0.03)


def test_annotations_snap_to_beats_and_bars(
    client: TestClient, alice: Account, analysed_track: AnalysedTrack, session: Session
) -> None:
    # given
    url = f"/v1/tracks/{analysed_track.track_id}/annotations"
    beats = grid(session, analysed_track, "beat")
    bars = grid(session, analysed_track, "downbeat")
    # when
    code_beat, on_beat = post(client, alice, url, {"start_time_seconds": 1.2, "end_time_seconds": 3.3}, snap="beat")
    code_bar, on_bar = post(client, alice, url, {"start_time_seconds": 0.7, "end_time_seconds": 5.5}, snap="bar")
    code_point, point = post(client, alice, url, {"start_time_seconds": 7.3}, snap="bar")
    # then
    assert (code_beat, code_bar, code_point) == (201, 201, 201)
    assert (on_beat["start_time_seconds"], on_beat["end_time_seconds"]) == (nearest(beats, 1.2), nearest(beats, 3.3))
    assert (on_beat["start_time_seconds"], on_beat["end_time_seconds"]) == pytest.approx((1.0, 3.5), abs=0.03)
    assert (on_bar["start_time_seconds"], on_bar["end_time_seconds"]) == (nearest(bars, 0.7), nearest(bars, 5.5))
    assert (on_bar["start_time_seconds"], on_bar["end_time_seconds"]) == pytest.approx((0.0, 6.0), abs=0.03)
    assert (point["start_time_seconds"], point["end_time_seconds"]) == (nearest(bars, 7.3), None)

    # when: only the end is sent, so only the end moves
    code, moved = patch(client, alice, f"{url}/{on_beat['id']}", {"end_time_seconds": 9.2}, snap="bar")
    # then
    assert code == 200
    assert moved["start_time_seconds"] == on_beat["start_time_seconds"]
    assert moved["end_time_seconds"] == nearest(bars, 9.2)
    assert moved["end_time_seconds"] == pytest.approx(10.0, abs=0.03)

    # when: a span shorter than a bar collapses onto one bar line
    code, error = post(client, alice, url, {"start_time_seconds": 4.1, "end_time_seconds": 4.6}, snap="bar")
    # then
    assert code == 422
    assert error["field"] == "end_time_seconds"
    assert error["detail"].startswith("end_time_seconds: start and end snap to the same bar")
    assert session.scalar(select(func.count()).select_from(TrackAnnotation)) == 3


def test_regions_snap_to_beats_and_bars(
    client: TestClient, alice: Account, analysed_track: AnalysedTrack, session: Session
) -> None:
    # given
    url = f"/v1/tracks/{analysed_track.track_id}/regions"
    beats = grid(session, analysed_track, "beat")
    bars = grid(session, analysed_track, "downbeat")
    # when
    code, loop = post(
        client, alice, url, {"name": "Loop", "start_time_seconds": 3.1, "end_time_seconds": 9.4}, snap="bar"
    )
    # then
    assert code == 201
    assert (loop["start_time_seconds"], loop["end_time_seconds"]) == (nearest(bars, 3.1), nearest(bars, 9.4))
    assert (loop["start_time_seconds"], loop["end_time_seconds"]) == pytest.approx((4.0, 10.0), abs=0.03)

    # when: the start is moved on the beat grid; the end stays where it is
    code, moved = patch(client, alice, f"{url}/{loop['id']}", {"start_time_seconds": 6.8}, snap="beat")
    # then
    assert code == 200
    assert moved["start_time_seconds"] == nearest(beats, 6.8)
    assert moved["start_time_seconds"] == pytest.approx(7.0, abs=0.03)
    assert moved["end_time_seconds"] == loop["end_time_seconds"]

    # when: the start snaps onto the end
    code, error = patch(client, alice, f"{url}/{loop['id']}", {"start_time_seconds": 9.6}, snap="bar")
    # then
    assert code == 422
    assert error["field"] == "start_time_seconds"
    assert session.scalar(select(TrackRegion.start_time_seconds)) == moved["start_time_seconds"]


def test_snap_needs_an_analysed_grid(client: TestClient, alice: Account, track: Track, session: Session) -> None:
    # given: the track's analysis is still queued
    url = f"{track.url}/annotations"
    # when
    code, error = post(client, alice, url, {"start_time_seconds": 1.0}, snap="beat")
    code_region, error_region = post(
        client, alice, f"{track.url}/regions", {"name": "x", "start_time_seconds": 1, "end_time_seconds": 2}, snap="bar"
    )
    # then
    assert code == 422
    assert error == {
        "error": "InvalidInput",
        "detail": "snap: the track has no analysed beats to snap to",
        "field": "snap",
    }
    assert code_region == 422
    assert error_region["field"] == "snap"
    assert error_region["detail"] == "snap: the track has no analysed bars to snap to"
    assert session.scalar(select(func.count()).select_from(TrackAnnotation)) == 0
    assert session.scalar(select(func.count()).select_from(TrackRegion)) == 0

    # when: a change that sends no time has nothing to snap
    _, created = post(client, alice, url, {"start_time_seconds": 1.0})
    code_title, renamed = patch(client, alice, f"{url}/{created['id']}", {"title": "Intro"}, snap="beat")
    code_time, error_time = patch(client, alice, f"{url}/{created['id']}", {"start_time_seconds": 2.0}, snap="beat")
    # then
    assert (code_title, renamed["title"]) == (200, "Intro")
    assert (code_time, error_time["field"]) == (422, "snap")


def test_snap_accepts_only_beat_or_bar(client: TestClient, alice: Account, track: Track) -> None:
    # when
    code, error = post(client, alice, f"{track.url}/annotations", {"start_time_seconds": 1.0}, snap="half")
    # then
    assert code == 422
    assert error["field"] == "snap"
