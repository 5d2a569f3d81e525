"""Annotation CRUD over HTTP, on SQLite and PostgreSQL: fields, ordering, filters and every validation rule."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.annotation.models import TrackAnnotation
from service.track.models import Track as TrackRow
from tests.fixtures.app import Account
from tests.service.annotation.conftest import CLIP_SECONDS, Track, get, patch, post


def annotations_url(track: Track) -> str:
    return f"{track.url}/annotations"


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(TrackAnnotation)) or 0


def test_clip_duration_is_known(track: Track) -> None:
    # then: every bound below is relative to this
    assert track.duration_s == CLIP_SECONDS


def test_create_point_and_span_and_read_them_back(client: TestClient, alice: Account, track: Track) -> None:
    # when
    code_point, point = post(client, alice, annotations_url(track), {"start_time_seconds": 1.5})
    code_span, span = post(
        client,
        alice,
        annotations_url(track),
        {
            "start_time_seconds": 2.0,
            "end_time_seconds": 4.25,
            "annotation_type": "issue",
            "title": "Hats too bright",
            "content": "Cut 8 kHz by 2 dB.",
            "color": "#E5484D",
            "tags": ["mix", "hats"],
        },
    )
    # then
    assert (code_point, code_span) == (201, 201)
    assert {k: point[k] for k in point if k not in ("id", "created_at", "updated_at")} == {
        "track_id": track.id,
        "start_time_seconds": 1.5,
        "end_time_seconds": None,
        "annotation_type": "note",
        "title": None,
        "content": None,
        "color": None,
        "tags": [],
    }
    assert {k: span[k] for k in span if k not in ("id", "created_at", "updated_at")} == {
        "track_id": track.id,
        "start_time_seconds": 2.0,
        "end_time_seconds": 4.25,
        "annotation_type": "issue",
        "title": "Hats too bright",
        "content": "Cut 8 kHz by 2 dB.",
        "color": "#E5484D",
        "tags": ["mix", "hats"],
    }
    assert get(client, alice, f"{annotations_url(track)}/{span['id']}") == (200, span)
    assert get(client, alice, f"{annotations_url(track)}/{point['id']}") == (200, point)


def test_list_is_ordered_by_start_then_creation(client: TestClient, alice: Account, track: Track) -> None:
    # given
    for start, title in [(5.0, "first at 5"), (1.0, "at 1"), (5.0, "second at 5"), (3.0, "at 3")]:
        assert post(client, alice, annotations_url(track), {"start_time_seconds": start, "title": title})[0] == 201
    # when
    code, body = get(client, alice, annotations_url(track))
    # then
    assert code == 200
    assert body["count"] == 4
    assert [a["title"] for a in body["data"]] == ["at 1", "at 3", "first at 5", "second at 5"]
    assert get(client, alice, annotations_url(track)) == (200, body)


def test_list_breaks_full_ties_by_id(client: TestClient, alice: Account, track: Track, session: Session) -> None:
    # given: three annotations at the same time created in the same instant
    at = datetime(2025, 1, 1, tzinfo=UTC)
    ids = [uuid.uuid4() for _ in range(3)]
    session.add_all(
        TrackAnnotation(
            id=i,
            track_id=uuid.UUID(track.id),
            user_id=alice.user.id,
            start_time_seconds=2.0,
            title=str(i),
            tags=[],
            created_at=at,
            updated_at=at,
        )
        for i in ids
    )
    session.commit()
    # when
    code, body = get(client, alice, annotations_url(track))
    # then
    assert code == 200
    assert [a["id"] for a in body["data"]] == [str(i) for i in sorted(ids)]


def test_list_filters_by_type_and_time_window(client: TestClient, alice: Account, track: Track) -> None:
    # given
    items = [
        {"start_time_seconds": 0.0, "end_time_seconds": 1.0, "annotation_type": "praise", "title": "praise 0-1"},
        {"start_time_seconds": 2.0, "annotation_type": "note", "title": "note at 2"},
        {"start_time_seconds": 4.0, "end_time_seconds": 8.0, "annotation_type": "issue", "title": "issue 4-8"},
        {"start_time_seconds": 9.0, "annotation_type": "marker", "title": "marker at 9"},
    ]
    for item in items:
        assert post(client, alice, annotations_url(track), item)[0] == 201

    def titles(**params: object) -> list[str]:
        code, body = get(client, alice, annotations_url(track), **params)
        assert code == 200, body
        assert body["count"] == len(body["data"])
        return [a["title"] for a in body["data"]]

    # then
    assert titles(type="issue") == ["issue 4-8"]
    assert titles(type=["marker", "praise"]) == ["praise 0-1", "marker at 9"]
    assert titles(start=3.0, end=5.0) == ["issue 4-8"]
    assert titles(start=8.0, end=9.0) == ["issue 4-8", "marker at 9"]
    assert titles(start=1.0, end=2.0) == ["praise 0-1", "note at 2"]
    assert titles(start=8.5) == ["marker at 9"]
    assert titles(end=0.5) == ["praise 0-1"]
    assert titles(start=2.5, end=3.5) == []
    assert titles(type="note", start=0.0, end=10.0) == ["note at 2"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": 5.0, "end": 3.0}, "end"),
        ({"start": -1.0}, "start"),
        ({"end": "nan"}, "end"),
        ({"type": "todo"}, "type.0"),
    ],
)
def test_list_refuses_bad_filters(
    client: TestClient, alice: Account, track: Track, params: dict[str, object], field: str
) -> None:
    # when
    code, body = get(client, alice, annotations_url(track), **params)
    # then
    assert code == 422, body
    assert body["field"] == field


def test_patch_changes_only_the_fields_sent(client: TestClient, alice: Account, track: Track) -> None:
    # given
    _, created = post(
        client,
        alice,
        annotations_url(track),
        {"start_time_seconds": 2.0, "end_time_seconds": 4.0, "title": "Hats", "color": "#fff", "tags": ["mix"]},
    )
    url = f"{annotations_url(track)}/{created['id']}"
    # when
    code, renamed = patch(client, alice, url, {"title": "Hats too bright", "annotation_type": "issue"})
    # then
    assert code == 200
    assert renamed == {
        **created,
        "title": "Hats too bright",
        "annotation_type": "issue",
        "updated_at": renamed["updated_at"],
    }
    assert renamed["updated_at"] >= created["updated_at"]
    # when: a span becomes a point, and the optional fields are cleared
    code, point = patch(client, alice, url, {"end_time_seconds": None, "color": None, "title": None, "tags": []})
    # then
    assert code == 200
    assert (point["start_time_seconds"], point["end_time_seconds"]) == (2.0, None)
    assert (point["color"], point["title"], point["tags"]) == (None, None, [])
    assert get(client, alice, url) == (200, point)


def test_delete_removes_the_annotation(client: TestClient, alice: Account, track: Track, session: Session) -> None:
    # given
    _, created = post(client, alice, annotations_url(track), {"start_time_seconds": 1.0})
    url = f"{annotations_url(track)}/{created['id']}"
    # when
    response = client.delete(url, headers=alice.headers)
    # then
    assert response.status_code == 204
    assert response.content == b""
    assert get(client, alice, url) == (404, {"error": "NotFound", "detail": "annotation not found"})
    assert client.delete(url, headers=alice.headers).status_code == 404
    assert count(session) == 0


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({}, "start_time_seconds", "start_time_seconds: Field required"),
        ({"start_time_seconds": -0.5}, "start_time_seconds", None),
        ({"start_time_seconds": "soon"}, "start_time_seconds", None),
        (
            {"start_time_seconds": 10.5},
            "start_time_seconds",
            "start_time_seconds: is past the end of the track (10.000 s)",
        ),
        (
            {"start_time_seconds": 2.0, "end_time_seconds": 10.01},
            "end_time_seconds",
            "end_time_seconds: is past the end of the track (10.000 s)",
        ),
        (
            {"start_time_seconds": 2.0, "end_time_seconds": 2.0},
            "end_time_seconds",
            "end_time_seconds: must be after start_time_seconds",
        ),
        (
            {"start_time_seconds": 3.0, "end_time_seconds": 1.0},
            "end_time_seconds",
            "end_time_seconds: must be after start_time_seconds",
        ),
        ({"start_time_seconds": 1.0, "end_time_seconds": -1.0}, "end_time_seconds", None),
        ({"start_time_seconds": 1.0, "annotation_type": "todo"}, "annotation_type", None),
        ({"start_time_seconds": 1.0, "color": "red"}, "color", None),
        ({"start_time_seconds": 1.0, "color": "#12345"}, "color", None),
        ({"start_time_seconds": 1.0, "color": "#GGG"}, "color", None),
        ({"start_time_seconds": 1.0, "color": "fff"}, "color", None),
        ({"start_time_seconds": 1.0, "title": "x" * 501}, "title", None),
        ({"start_time_seconds": 1.0, "title": "nul \x00 byte"}, "title", None),
        ({"start_time_seconds": 1.0, "content": "x" * 10_001}, "content", None),
        ({"start_time_seconds": 1.0, "tags": [f"t{i}" for i in range(33)]}, "tags", None),
        ({"start_time_seconds": 1.0, "tags": ["ok", "x" * 65]}, "tags.1", None),
        ({"start_time_seconds": 1.0, "tags": [""]}, "tags.0", None),
        ({"start_time_seconds": 1.0, "tags": "mix"}, "tags", None),
        ({"start_time_seconds": 1.0, "colour": "#fff"}, "colour", None),
    ],
)
def test_create_refuses_invalid_input_naming_the_field(
    client: TestClient,
    alice: Account,
    track: Track,
    session: Session,
    body: dict[str, object],
    field: str,
    detail: str | None,
) -> None:
    # when
    code, error = post(client, alice, annotations_url(track), body)
    # then
    assert code == 422, error
    assert error["field"] == field
    assert error["detail"].startswith(f"{field}: ")
    if detail is not None:
        assert error["detail"] == detail
    assert count(session) == 0


def test_create_accepts_every_limit(client: TestClient, alice: Account, track: Track) -> None:
    # given
    body = {
        "start_time_seconds": 0.0,
        "end_time_seconds": CLIP_SECONDS,
        "annotation_type": "praise",
        "title": "t" * 500,
        "content": "c" * 10_000,
        "color": "#aBc",
        "tags": [f"{i:02d}" + "x" * 62 for i in range(32)],
    }
    # when
    code, created = post(client, alice, annotations_url(track), body)
    code_end, at_end = post(client, alice, annotations_url(track), {"start_time_seconds": CLIP_SECONDS})
    # then
    assert (code, code_end) == (201, 201), created
    assert {k: created[k] for k in body} == body
    assert at_end["start_time_seconds"] == CLIP_SECONDS


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"start_time_seconds": 5.0}, "start_time_seconds", "start_time_seconds: must be before end_time_seconds"),
        ({"end_time_seconds": 1.0}, "end_time_seconds", "end_time_seconds: must be after start_time_seconds"),
        ({"end_time_seconds": 2.0}, "end_time_seconds", "end_time_seconds: must be after start_time_seconds"),
        ({"end_time_seconds": 11.0}, "end_time_seconds", "end_time_seconds: is past the end of the track (10.000 s)"),
        (
            {"start_time_seconds": 6.0, "end_time_seconds": 5.0},
            "end_time_seconds",
            "end_time_seconds: must be after start_time_seconds",
        ),
        ({"start_time_seconds": None}, "start_time_seconds", None),
        ({"annotation_type": None}, "annotation_type", None),
        ({"tags": None}, "tags", None),
        ({"color": "#ff"}, "color", None),
        ({"title": "x" * 501}, "title", None),
        ({"id": str(uuid.uuid4())}, "id", None),
    ],
)
def test_patch_validates_the_merged_result(
    client: TestClient, alice: Account, track: Track, body: dict[str, object], field: str, detail: str | None
) -> None:
    # given: a span from 2 s to 4 s
    _, created = post(client, alice, annotations_url(track), {"start_time_seconds": 2.0, "end_time_seconds": 4.0})
    url = f"{annotations_url(track)}/{created['id']}"
    # when
    code, error = patch(client, alice, url, body)
    # then
    assert code == 422, error
    assert error["field"] == field
    if detail is not None:
        assert error["detail"] == detail
    assert get(client, alice, url) == (200, created)


def test_patch_moving_both_times_past_the_old_end_is_allowed(client: TestClient, alice: Account, track: Track) -> None:
    # given
    _, created = post(client, alice, annotations_url(track), {"start_time_seconds": 2.0, "end_time_seconds": 4.0})
    # when
    code, moved = patch(
        client,
        alice,
        f"{annotations_url(track)}/{created['id']}",
        {"start_time_seconds": 6.0, "end_time_seconds": 9.5},
    )
    # then
    assert code == 200
    assert (moved["start_time_seconds"], moved["end_time_seconds"]) == (6.0, 9.5)


def test_times_have_no_upper_bound_while_the_duration_is_unknown(
    client: TestClient, alice: Account, track: Track, session: Session
) -> None:
    # given
    stored = session.get(TrackRow, uuid.UUID(track.id))
    assert stored is not None
    stored.duration_seconds = None
    session.commit()
    # when
    code, created = post(
        client, alice, annotations_url(track), {"start_time_seconds": 600.0, "end_time_seconds": 660.0}
    )
    # then
    assert code == 201, created
    assert (created["start_time_seconds"], created["end_time_seconds"]) == (600.0, 660.0)


def test_unknown_track_and_annotation_are_404(client: TestClient, alice: Account, track: Track) -> None:
    # given
    missing = uuid.uuid4()
    # then
    assert get(client, alice, f"/v1/tracks/{missing}/annotations") == (
        404,
        {"error": "NotFound", "detail": "track not found"},
    )
    assert post(client, alice, f"/v1/tracks/{missing}/annotations", {"start_time_seconds": 1.0})[0] == 404
    assert get(client, alice, f"{annotations_url(track)}/{missing}") == (
        404,
        {"error": "NotFound", "detail": "annotation not found"},
    )
    assert patch(client, alice, f"{annotations_url(track)}/{missing}", {"title": "x"})[0] == 404
    assert client.delete(f"{annotations_url(track)}/{missing}", headers=alice.headers).status_code == 404


def test_requests_without_a_token_are_401(client: TestClient, track: Track) -> None:
    # when
    response = client.get(annotations_url(track))
    # then
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
