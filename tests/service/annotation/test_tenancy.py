"""Another user's track, annotation and region ids are not found through any endpoint."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.annotation.models import TrackAnnotation, TrackRegion
from tests.fixtures.app import Account
from tests.service.annotation.conftest import Track, get, post


@dataclass(frozen=True)
class AlicesData:
    track: Track
    annotation: dict[str, Any]
    region: dict[str, Any]


@pytest.fixture
def alices(client: TestClient, alice: Account, track: Track) -> AlicesData:
    _, annotation = post(client, alice, f"{track.url}/annotations", {"start_time_seconds": 1.0, "title": "mine"})
    _, region = post(
        client, alice, f"{track.url}/regions", {"name": "mine", "start_time_seconds": 1.0, "end_time_seconds": 2.0}
    )
    return AlicesData(track=track, annotation=annotation, region=region)


LABELS = "0\t1\tx\n"
# (method, path below the track, query, JSON body or raw text)
TRACK_ENDPOINTS: list[tuple[str, str, dict[str, str], Any]] = [
    ("GET", "/annotations", {}, None),
    ("POST", "/annotations", {}, {"start_time_seconds": 1.0}),
    ("POST", "/annotations", {"snap": "beat"}, {"start_time_seconds": 1.0}),
    ("GET", "/annotations/export", {"format": "audacity"}, None),
    ("GET", "/annotations/export", {"format": "jams"}, None),
    ("POST", "/annotations/import", {"format": "audacity"}, LABELS),
    ("GET", "/annotations/{annotation}", {}, None),
    ("PATCH", "/annotations/{annotation}", {}, {"title": "bob was here"}),
    ("DELETE", "/annotations/{annotation}", {}, None),
    ("GET", "/regions", {}, None),
    ("POST", "/regions", {}, {"name": "x", "start_time_seconds": 1.0, "end_time_seconds": 2.0}),
    ("POST", "/regions/reorder", {}, {"ids": ["{region}"]}),
    ("POST", "/regions/from-sections", {}, None),
    ("GET", "/regions/export", {"format": "jams"}, None),
    ("POST", "/regions/import", {"format": "audacity"}, LABELS),
    ("GET", "/regions/{region}", {}, None),
    ("PATCH", "/regions/{region}", {}, {"name": "bob was here"}),
    ("DELETE", "/regions/{region}", {}, None),
]


def call(
    client: TestClient,
    account: Account,
    track_id: str,
    data: AlicesData,
    endpoint: tuple[str, str, dict[str, str], Any],
) -> Any:
    method, path, params, body = endpoint
    ids = {"annotation": data.annotation["id"], "region": data.region["id"]}
    url = f"/v1/tracks/{track_id}{path.format(**ids)}"
    if isinstance(body, str):
        return client.request(
            method, url, headers={**account.headers, "Content-Type": "text/plain"}, params=params, content=body
        )
    if isinstance(body, dict) and "ids" in body:
        body = {"ids": [ids["region"]]}
    return client.request(method, url, headers=account.headers, params=params, json=body)


def assert_untouched(client: TestClient, alice: Account, data: AlicesData, session: Session) -> None:
    assert get(client, alice, f"{data.track.url}/annotations/{data.annotation['id']}") == (200, data.annotation)
    assert get(client, alice, f"{data.track.url}/regions/{data.region['id']}") == (200, data.region)
    assert session.scalar(select(func.count()).select_from(TrackAnnotation)) == 1
    assert session.scalar(select(func.count()).select_from(TrackRegion)) == 1


@pytest.mark.parametrize("endpoint", TRACK_ENDPOINTS, ids=[f"{m} {p} {q}" for m, p, q, _ in TRACK_ENDPOINTS])
def test_another_users_track_is_not_found(
    client: TestClient,
    alice: Account,
    bob: Account,
    alices: AlicesData,
    session: Session,
    endpoint: tuple[str, str, dict[str, str], Any],
) -> None:
    # when
    response = call(client, bob, alices.track.id, alices, endpoint)
    # then
    assert response.status_code == 404, response.text
    assert response.json() == {"error": "NotFound", "detail": "track not found"}
    assert_untouched(client, alice, alices, session)


ITEM_ENDPOINTS = [e for e in TRACK_ENDPOINTS if "{" in e[1]]


@pytest.mark.parametrize("endpoint", ITEM_ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ITEM_ENDPOINTS])
def test_another_users_items_are_not_found_through_your_own_track(
    client: TestClient,
    alice: Account,
    bob: Account,
    alices: AlicesData,
    bobs_track: Track,
    session: Session,
    endpoint: tuple[str, str, dict[str, str], Any],
) -> None:
    # when: Bob names Alice's annotation or region below his own track
    response = call(client, bob, bobs_track.id, alices, endpoint)
    # then
    assert response.status_code == 404, response.text
    kind = "annotation" if "annotation" in endpoint[1] else "region"
    assert response.json() == {"error": "NotFound", "detail": f"{kind} not found"}
    assert_untouched(client, alice, alices, session)


@pytest.mark.parametrize("endpoint", ITEM_ENDPOINTS, ids=[f"{m} {p}" for m, p, _, _ in ITEM_ENDPOINTS])
def test_items_are_not_found_through_another_of_your_tracks(
    client: TestClient,
    alice: Account,
    alices: AlicesData,
    second_track: Track,
    session: Session,
    endpoint: tuple[str, str, dict[str, str], Any],
) -> None:
    # when
    response = call(client, alice, second_track.id, alices, endpoint)
    # then
    assert response.status_code == 404, response.text
    assert_untouched(client, alice, alices, session)


def test_another_users_regions_cannot_be_reordered_into_your_track(
    client: TestClient, alice: Account, bob: Account, alices: AlicesData, bobs_track: Track, session: Session
) -> None:
    # when
    code, error = post(client, bob, f"{bobs_track.url}/regions/reorder", {"ids": [alices.region["id"]]})
    # then
    assert code == 422
    assert error["field"] == "ids"
    assert error["detail"] == f"ids: {alices.region['id']} is not a region of this track"
    assert_untouched(client, alice, alices, session)


def test_lists_show_only_your_own_items(
    client: TestClient, bob: Account, alices: AlicesData, bobs_track: Track
) -> None:
    # then: Bob's copy of the same audio starts empty
    assert get(client, bob, f"{bobs_track.url}/annotations") == (200, {"data": [], "count": 0})
    assert get(client, bob, f"{bobs_track.url}/regions") == (200, {"data": [], "count": 0})
