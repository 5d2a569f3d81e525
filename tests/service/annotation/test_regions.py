"""Region CRUD, ordering and reordering, validation, and regions from analysed sections, over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.annotation.models import TrackRegion
from tests.fixtures.analysed import AnalysedTrack
from tests.fixtures.app import Account
from tests.service.annotation.conftest import CLIP_SECONDS, Track, finish_analysis, get, patch, post


def regions_url(track: Track) -> str:
    return f"{track.url}/regions"


def count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(TrackRegion)) or 0


def create(client: TestClient, account: Account, track: Track, name: str, start: float, end: float) -> dict:
    code, body = post(
        client, account, regions_url(track), {"name": name, "start_time_seconds": start, "end_time_seconds": end}
    )
    assert code == 201, body
    return body


def names(client: TestClient, account: Account, track: Track) -> list[str]:
    code, body = get(client, account, regions_url(track))
    assert code == 200
    assert body["count"] == len(body["data"])
    return [r["name"] for r in body["data"]]


def test_create_and_read_back(client: TestClient, alice: Account, track: Track) -> None:
    # when
    code, created = post(
        client,
        alice,
        regions_url(track),
        {
            "name": "  Drop  ",
            "start_time_seconds": 2.0,
            "end_time_seconds": 6.5,
            "region_type": "compare",
            "loop_count": 4,
            "is_favorite": True,
            "color": "#3e63dd",
        },
    )
    code_default, plain = post(
        client, alice, regions_url(track), {"name": "Intro", "start_time_seconds": 0, "end_time_seconds": 2}
    )
    # then
    assert (code, code_default) == (201, 201)
    assert {k: created[k] for k in created if k not in ("id", "created_at", "updated_at")} == {
        "track_id": track.id,
        "name": "Drop",
        "start_time_seconds": 2.0,
        "end_time_seconds": 6.5,
        "region_type": "compare",
        "loop_count": 4,
        "is_favorite": True,
        "color": "#3e63dd",
        "sort_order": 0,
    }
    assert {k: plain[k] for k in ("region_type", "loop_count", "is_favorite", "color", "sort_order")} == {
        "region_type": "loop",
        "loop_count": None,
        "is_favorite": False,
        "color": None,
        "sort_order": 1,
    }
    assert get(client, alice, f"{regions_url(track)}/{created['id']}") == (200, created)


def test_new_regions_go_to_the_end_of_the_list(client: TestClient, alice: Account, track: Track) -> None:
    # given
    a = create(client, alice, track, "a", 6, 8)
    b = create(client, alice, track, "b", 0, 2)
    create(client, alice, track, "c", 3, 4)
    assert client.delete(f"{regions_url(track)}/{b['id']}", headers=alice.headers).status_code == 204
    # when
    d = create(client, alice, track, "d", 1, 2)
    # then
    assert (a["sort_order"], d["sort_order"]) == (0, 3)
    assert names(client, alice, track) == ["a", "c", "d"]


def test_list_breaks_ties_by_creation_then_id(
    client: TestClient, alice: Account, track: Track, session: Session
) -> None:
    # given: regions sharing a position, two of them created in the same instant
    early, late = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
    ids = sorted(uuid.uuid4() for _ in range(2))
    rows = [(uuid.uuid4(), "late", late), (ids[1], "early 2", early), (ids[0], "early 1", early)]
    session.add_all(
        TrackRegion(
            id=rid,
            track_id=uuid.UUID(track.id),
            user_id=alice.user.id,
            name=name,
            start_time_seconds=0.0,
            end_time_seconds=1.0,
            sort_order=0,
            created_at=at,
            updated_at=at,
        )
        for rid, name, at in rows
    )
    session.commit()
    # then
    assert names(client, alice, track) == ["early 1", "early 2", "late"]


def test_reorder_rewrites_the_positions(client: TestClient, alice: Account, track: Track) -> None:
    # given
    regions = [create(client, alice, track, name, i, i + 1) for i, name in enumerate("abcd")]
    order = [regions[i]["id"] for i in (2, 0, 3, 1)]
    # when
    code, body = post(client, alice, f"{regions_url(track)}/reorder", {"ids": order})
    # then
    assert code == 200
    assert [r["id"] for r in body["data"]] == order
    assert [r["sort_order"] for r in body["data"]] == [0, 1, 2, 3]
    assert body["count"] == 4
    assert names(client, alice, track) == ["c", "a", "d", "b"]
    # and a new region still goes last
    assert create(client, alice, track, "e", 0, 1)["sort_order"] == 4


@pytest.mark.parametrize(
    ("pick", "detail"),
    [
        (lambda ids: ids[:2], "ids: leaves out 1 of the track's regions"),
        (lambda ids: [], "ids: leaves out 3 of the track's regions"),
        (lambda ids: [*ids, ids[0]], "ids: lists"),
        (lambda ids: [*ids, str(uuid.uuid4())], "ids: "),
    ],
)
def test_reorder_needs_exactly_the_tracks_regions(
    client: TestClient, alice: Account, track: Track, pick: object, detail: str
) -> None:
    # given
    ids = [create(client, alice, track, name, 0, 1)["id"] for name in "abc"]
    # when
    code, error = post(client, alice, f"{regions_url(track)}/reorder", {"ids": pick(ids)})  # type: ignore[operator]
    # then
    assert code == 422
    assert error["field"] == "ids"
    assert error["detail"].startswith(detail)
    assert names(client, alice, track) == ["a", "b", "c"]


def test_reorder_refuses_a_malformed_list(client: TestClient, alice: Account, track: Track) -> None:
    # when
    code, error = post(client, alice, f"{regions_url(track)}/reorder", {"ids": ["not-a-uuid"]})
    # then
    assert code == 422
    assert error["field"] == "ids.0"


def test_reorder_of_a_track_without_regions_accepts_the_empty_list(
    client: TestClient, alice: Account, track: Track
) -> None:
    assert post(client, alice, f"{regions_url(track)}/reorder", {"ids": []}) == (200, {"data": [], "count": 0})


def test_patch_changes_only_the_fields_sent(client: TestClient, alice: Account, track: Track) -> None:
    # given
    _, created = post(
        client,
        alice,
        regions_url(track),
        {"name": "Drop", "start_time_seconds": 2, "end_time_seconds": 6, "loop_count": 4, "color": "#abc"},
    )
    url = f"{regions_url(track)}/{created['id']}"
    # when
    code, changed = patch(client, alice, url, {"name": "Second drop", "loop_count": None, "is_favorite": True})
    # then
    assert code == 200
    assert changed == {
        **created,
        "name": "Second drop",
        "loop_count": None,
        "is_favorite": True,
        "updated_at": changed["updated_at"],
    }
    assert get(client, alice, url) == (200, changed)


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"start_time_seconds": 0, "end_time_seconds": 1}, "name", "name: Field required"),
        ({"name": "", "start_time_seconds": 0, "end_time_seconds": 1}, "name", None),
        ({"name": "   ", "start_time_seconds": 0, "end_time_seconds": 1}, "name", None),
        ({"name": "x" * 201, "start_time_seconds": 0, "end_time_seconds": 1}, "name", None),
        ({"name": "a", "start_time_seconds": 0}, "end_time_seconds", "end_time_seconds: Field required"),
        ({"name": "a", "start_time_seconds": 0, "end_time_seconds": None}, "end_time_seconds", None),
        ({"name": "a", "end_time_seconds": 1}, "start_time_seconds", None),
        ({"name": "a", "start_time_seconds": -1, "end_time_seconds": 1}, "start_time_seconds", None),
        (
            {"name": "a", "start_time_seconds": 2, "end_time_seconds": 2},
            "end_time_seconds",
            "end_time_seconds: must be after start_time_seconds",
        ),
        (
            {"name": "a", "start_time_seconds": 3, "end_time_seconds": 2},
            "end_time_seconds",
            "end_time_seconds: must be after start_time_seconds",
        ),
        (
            {"name": "a", "start_time_seconds": 9, "end_time_seconds": 10.5},
            "end_time_seconds",
            "end_time_seconds: is past the end of the track (10.000 s)",
        ),
        (
            {"name": "a", "start_time_seconds": 10.5, "end_time_seconds": 11},
            "start_time_seconds",
            "start_time_seconds: is past the end of the track (10.000 s)",
        ),
        ({"name": "a", "start_time_seconds": 0, "end_time_seconds": 1, "region_type": "verse"}, "region_type", None),
        ({"name": "a", "start_time_seconds": 0, "end_time_seconds": 1, "loop_count": 0}, "loop_count", None),
        ({"name": "a", "start_time_seconds": 0, "end_time_seconds": 1, "loop_count": 1000}, "loop_count", None),
        ({"name": "a", "start_time_seconds": 0, "end_time_seconds": 1, "loop_count": 2.5}, "loop_count", None),
        ({"name": "a", "start_time_seconds": 0, "end_time_seconds": 1, "color": "#abcd"}, "color", None),
        ({"name": "a", "start_time_seconds": 0, "end_time_seconds": 1, "is_favorite": "maybe"}, "is_favorite", None),
        ({"name": "a", "start_time_seconds": 0, "end_time_seconds": 1, "sort_order": 3}, "sort_order", None),
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
    code, error = post(client, alice, regions_url(track), body)
    # then
    assert code == 422, error
    assert error["field"] == field
    assert error["detail"].startswith(f"{field}: ")
    if detail is not None:
        assert error["detail"] == detail
    assert count(session) == 0


def test_create_accepts_the_limits(client: TestClient, alice: Account, track: Track) -> None:
    # when
    low = post(
        client,
        alice,
        regions_url(track),
        {"name": "n" * 200, "start_time_seconds": 0, "end_time_seconds": CLIP_SECONDS, "loop_count": 1},
    )
    high = post(
        client,
        alice,
        regions_url(track),
        {"name": "x", "start_time_seconds": 0, "end_time_seconds": 0.001, "loop_count": 999},
    )
    # then
    assert (low[0], high[0]) == (201, 201)
    assert (low[1]["loop_count"], high[1]["loop_count"]) == (1, 999)


@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ({"start_time_seconds": 7}, "start_time_seconds", "start_time_seconds: must be before end_time_seconds"),
        ({"end_time_seconds": 1}, "end_time_seconds", "end_time_seconds: must be after start_time_seconds"),
        ({"end_time_seconds": 12}, "end_time_seconds", "end_time_seconds: is past the end of the track (10.000 s)"),
        ({"end_time_seconds": None}, "end_time_seconds", None),
        ({"name": None}, "name", None),
        ({"name": ""}, "name", None),
        ({"region_type": None}, "region_type", None),
        ({"is_favorite": None}, "is_favorite", None),
        ({"loop_count": 0}, "loop_count", None),
        ({"color": "blue"}, "color", None),
    ],
)
def test_patch_validates_the_merged_result(
    client: TestClient, alice: Account, track: Track, body: dict[str, object], field: str, detail: str | None
) -> None:
    # given: a region from 2 s to 6 s
    created = create(client, alice, track, "Drop", 2, 6)
    url = f"{regions_url(track)}/{created['id']}"
    # when
    code, error = patch(client, alice, url, body)
    # then
    assert code == 422, error
    assert error["field"] == field
    if detail is not None:
        assert error["detail"] == detail
    assert get(client, alice, url) == (200, created)


def test_delete_removes_the_region(client: TestClient, alice: Account, track: Track, session: Session) -> None:
    # given
    created = create(client, alice, track, "Drop", 2, 6)
    url = f"{regions_url(track)}/{created['id']}"
    # when
    response = client.delete(url, headers=alice.headers)
    # then
    assert response.status_code == 204
    assert get(client, alice, url) == (404, {"error": "NotFound", "detail": "region not found"})
    assert count(session) == 0


def section(start: float, duration: float, label: str, payload: dict | None) -> dict:
    return {
        "event_type": "section",
        "time_seconds": start,
        "duration_seconds": duration,
        "label": label,
        "payload": payload,
    }


def test_regions_from_sections(client: TestClient, alice: Account, track: Track, session: Session) -> None:
    # given: an analysis with four sections, the last running past the end of the clip, and a loop already there
    finish_analysis(
        session,
        track,
        [
            {"event_type": "beat", "time_seconds": 0.5},
            section(0.0, 2.5, "A", {"role": "intro"}),
            section(2.5, 2.5, "B", {"role": "build"}),
            section(5.0, 3.0, "A", {"role": "drop"}),
            section(8.0, 2.5, "C", None),
        ],
    )
    loop = create(client, alice, track, "My loop", 0.0, 2.5)
    # when
    code, body = post(client, alice, f"{regions_url(track)}/from-sections", None)
    # then
    assert code == 201
    assert body["count"] == 4
    assert [
        (r["name"], r["region_type"], r["start_time_seconds"], r["end_time_seconds"], r["sort_order"])
        for r in body["data"]
    ] == [
        ("A · intro", "section", 0.0, 2.5, 1),
        ("B · build", "section", 2.5, 5.0, 2),
        ("A · drop", "section", 5.0, 8.0, 3),
        ("C", "section", 8.0, CLIP_SECONDS, 4),
    ]
    assert names(client, alice, track) == [loop["name"], "A · intro", "B · build", "A · drop", "C"]

    # when: called again, nothing is duplicated
    again = post(client, alice, f"{regions_url(track)}/from-sections", None)
    # then
    assert again == (200, {"data": [], "count": 0})
    assert count(session) == 5

    # when: one section region is deleted, only that one comes back
    drop = body["data"][2]
    assert client.delete(f"{regions_url(track)}/{drop['id']}", headers=alice.headers).status_code == 204
    code, restored = post(client, alice, f"{regions_url(track)}/from-sections", None)
    # then
    assert code == 201
    assert [(r["name"], r["start_time_seconds"], r["sort_order"]) for r in restored["data"]] == [("A · drop", 5.0, 5)]


def test_regions_from_the_real_analysis(
    client: TestClient, alice: Account, analysed_track: AnalysedTrack, session: Session
) -> None:
    # given: the analysis of a 24 s loop of one chord progression finds one section
    url = f"/v1/tracks/{analysed_track.track_id}/regions/from-sections"
    # when
    code, body = post(client, alice, url, None)
    # then
    assert code == 201
    assert [(r["name"], r["region_type"], r["start_time_seconds"]) for r in body["data"]] == [
        ("A · main", "section", 0.0)
    ]
    assert body["data"][0]["end_time_seconds"] == pytest.approx(analysed_track.duration_s)
    assert body["data"][0]["end_time_seconds"] <= analysed_track.duration_s
    assert post(client, alice, url, None) == (200, {"data": [], "count": 0})
    assert count(session) == 1


def test_regions_from_sections_need_a_finished_analysis(
    client: TestClient, alice: Account, track: Track, session: Session
) -> None:
    # when
    code, error = post(client, alice, f"{regions_url(track)}/from-sections", None)
    # then
    assert code == 422
    assert error == {"error": "InvalidInput", "detail": "the track has no finished analysis to take sections from"}
    assert count(session) == 0


def test_reorder_still_accepts_the_former_key(client: TestClient, alice: Account, track: Track) -> None:
    # given
    regions = [create(client, alice, track, name, i, i + 1) for i, name in enumerate("ab")]
    # when
    code, _body = post(
        client, alice, f"{regions_url(track)}/reorder", {"region_ids": [regions[1]["id"], regions[0]["id"]]}
    )
    # then
    assert code == 200
    assert names(client, alice, track) == ["b", "a"]


def test_reorder_with_both_keys_is_refused(client: TestClient, alice: Account, track: Track) -> None:
    # given
    region = create(client, alice, track, "a", 0, 1)
    # when
    code, error = post(client, alice, f"{regions_url(track)}/reorder", {"ids": [region["id"]], "region_ids": []})
    # then
    assert code == 422
    assert error["field"] == "region_ids"
