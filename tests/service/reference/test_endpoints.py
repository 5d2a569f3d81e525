"""Reference collections over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from service.db import session_scope, utcnow
from service.reference.models import Reference
from tests.fixtures.app import Account
from tests.fixtures.audio import click_track, write_audio

REFERENCES = "/v1/references"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Four short, different clips."""
    folder = tmp_path_factory.mktemp("clips")
    return [
        write_audio(folder / f"clip{i}.wav", click_track(bpm=90 + 10 * i, seconds=2, sr=22050, seed=i), 22050, "wav")
        for i in range(4)
    ]


def upload(client: TestClient, account: Account, path: Path, title: str) -> str:
    with path.open("rb") as fh:
        response = client.post(
            "/v1/tracks", headers=account.headers, files={"file": (path.name, fh)}, data={"title": title}
        )
    assert response.status_code == 202, response.text
    track_id: str = response.json()["id"]
    return track_id


@pytest.fixture
def tracks(client: TestClient, alice: Account, clips: list[Path]) -> list[str]:
    """Alice's four tracks."""
    return [upload(client, alice, path, f"Track {i}") for i, path in enumerate(clips)]


def add(client: TestClient, account: Account, track_id: str, **body: Any) -> dict[str, Any]:
    response = client.post(REFERENCES, headers=account.headers, json={"track_id": track_id, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def listing(client: TestClient, account: Account, **params: Any) -> dict[str, Any]:
    response = client.get(REFERENCES, headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_create_read_update_delete(client: TestClient, alice: Account, tracks: list[str]) -> None:
    # when
    created = add(
        client,
        alice,
        tracks[0],
        collection_name=" Club mixes ",
        notes="Kick and bass sit perfectly.",
        tags=["techno", " low end ", "techno"],
        is_favorite=True,
    )
    # then
    assert created["track_id"] == tracks[0]
    assert created["collection_name"] == "Club mixes"
    assert created["notes"] == "Kick and bass sit perfectly."
    assert created["tags"] == ["techno", "low end"]
    assert created["is_favorite"] is True
    assert created["sort_order"] == 0
    assert created["track"]["id"] == tracks[0]
    assert created["track"]["title"] == "Track 0"
    assert client.get(f"{REFERENCES}/{created['id']}", headers=alice.headers).json() == created

    # when
    response = client.patch(
        f"{REFERENCES}/{created['id']}", headers=alice.headers, json={"notes": None, "tags": [], "is_favorite": False}
    )
    # then
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["notes"], updated["tags"], updated["is_favorite"]) == (None, [], False)
    assert updated["collection_name"] == "Club mixes"

    # when
    response = client.delete(f"{REFERENCES}/{created['id']}", headers=alice.headers)
    # then
    assert response.status_code == 204
    assert client.get(f"{REFERENCES}/{created['id']}", headers=alice.headers).status_code == 404
    assert client.get(f"/v1/tracks/{tracks[0]}", headers=alice.headers).status_code == 200


def test_default_collection(client: TestClient, alice: Account, tracks: list[str]) -> None:
    assert add(client, alice, tracks[0])["collection_name"] == "default"


def test_the_same_track_twice_in_one_collection_is_a_conflict(
    client: TestClient, alice: Account, tracks: list[str]
) -> None:
    # given
    add(client, alice, tracks[0], collection_name="A")
    # when
    duplicate = client.post(REFERENCES, headers=alice.headers, json={"track_id": tracks[0], "collection_name": "A"})
    elsewhere = client.post(REFERENCES, headers=alice.headers, json={"track_id": tracks[0], "collection_name": "B"})
    # then
    assert duplicate.status_code == 409
    assert duplicate.json()["detail"] == "the track is already in the collection 'A'"
    assert elsewhere.status_code == 201


def test_moving_into_a_collection_that_holds_the_track_is_a_conflict(
    client: TestClient, alice: Account, tracks: list[str]
) -> None:
    # given
    add(client, alice, tracks[0], collection_name="A")
    in_b = add(client, alice, tracks[0], collection_name="B")
    # when
    response = client.patch(f"{REFERENCES}/{in_b['id']}", headers=alice.headers, json={"collection_name": "A"})
    # then
    assert response.status_code == 409
    assert client.get(f"{REFERENCES}/{in_b['id']}", headers=alice.headers).json()["collection_name"] == "B"


def test_moving_to_another_collection_puts_the_reference_last(
    client: TestClient, alice: Account, tracks: list[str]
) -> None:
    # given
    add(client, alice, tracks[0], collection_name="A")
    add(client, alice, tracks[1], collection_name="A")
    moving = add(client, alice, tracks[2], collection_name="B")
    # when
    response = client.patch(f"{REFERENCES}/{moving['id']}", headers=alice.headers, json={"collection_name": "A"})
    # then
    assert response.json()["sort_order"] == 2
    assert [r["track_id"] for r in listing(client, alice, collection_name="A")["data"]] == tracks[:3]


def test_list_filters_by_collection_and_favourite_and_orders_by_sort_order_then_creation(
    client: TestClient, alice: Account, tracks: list[str], session_factory: Callable[[], Session]
) -> None:
    # given
    a0 = add(client, alice, tracks[0], collection_name="A")
    a1 = add(client, alice, tracks[1], collection_name="A", is_favorite=True)
    a2 = add(client, alice, tracks[2], collection_name="A", sort_order=-1)
    b0 = add(client, alice, tracks[0], collection_name="B", is_favorite=True)
    a3 = add(client, alice, tracks[3], collection_name="A", sort_order=1)
    # a3 ties with a1 on sort order 1: the older one comes first
    with session_scope(session_factory) as s:
        s.execute(
            update(Reference).where(Reference.id == uuid.UUID(a3["id"])).values(created_at=utcnow() - timedelta(days=1))
        )
    # when
    every = listing(client, alice)
    in_a = listing(client, alice, collection_name="A")
    favourites = listing(client, alice, favorite="true")
    others_in_a = listing(client, alice, collection_name="A", favorite="false")
    page = listing(client, alice, collection_name="A", limit=2, offset=1)
    # then
    assert (a0["sort_order"], a1["sort_order"], b0["sort_order"]) == (0, 1, 0)
    assert [r["id"] for r in in_a["data"]] == [a2["id"], a0["id"], a3["id"], a1["id"]]
    assert in_a["count"] == 4
    assert [r["id"] for r in every["data"]] == [a2["id"], a0["id"], b0["id"], a3["id"], a1["id"]]
    assert [r["id"] for r in favourites["data"]] == [b0["id"], a1["id"]]
    assert [r["id"] for r in others_in_a["data"]] == [a2["id"], a0["id"], a3["id"]]
    assert ([r["id"] for r in page["data"]], page["count"]) == ([a0["id"], a3["id"]], 4)


def test_collections_are_listed_by_name_with_counts(client: TestClient, alice: Account, tracks: list[str]) -> None:
    # given
    add(client, alice, tracks[0], collection_name="Mastering")
    add(client, alice, tracks[1], collection_name="Club mixes", is_favorite=True)
    add(client, alice, tracks[2], collection_name="Club mixes")
    add(client, alice, tracks[3], collection_name="Club mixes", is_favorite=True)
    # when
    response = client.get(f"{REFERENCES}/collections", headers=alice.headers)
    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": [
            {"name": "Club mixes", "count": 3, "favorite_count": 2},
            {"name": "Mastering", "count": 1, "favorite_count": 0},
        ],
        "count": 2,
    }


def test_reorder_sets_the_order_of_a_collection(client: TestClient, alice: Account, tracks: list[str]) -> None:
    # given
    refs = [add(client, alice, track, collection_name="A") for track in tracks[:3]]
    other = add(client, alice, tracks[3], collection_name="B")
    new_order = [refs[2]["id"], refs[0]["id"], refs[1]["id"]]
    # when
    response = client.post(
        f"{REFERENCES}/reorder", headers=alice.headers, json={"collection_name": "A", "ids": new_order}
    )
    # then
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["id"] for r in body["data"]] == new_order
    assert [r["sort_order"] for r in body["data"]] == [0, 1, 2]
    assert body["count"] == 3
    assert [r["id"] for r in listing(client, alice, collection_name="A")["data"]] == new_order
    assert client.get(f"{REFERENCES}/{other['id']}", headers=alice.headers).json()["sort_order"] == 0


@pytest.mark.parametrize(
    ("pick", "detail"),
    [
        (lambda ids, other: ids[:2], "(1 missing, 0 not in the collection)"),
        (lambda ids, other: [*ids, other], "(0 missing, 1 not in the collection)"),
        (lambda ids, other: [*ids[:2], other], "(1 missing, 1 not in the collection)"),
        (lambda ids, other: [*ids, ids[0]], "a reference is listed more than once"),
        (lambda ids, other: [], "(3 missing, 0 not in the collection)"),
    ],
)
def test_reorder_needs_exactly_the_collections_ids(
    client: TestClient,
    alice: Account,
    tracks: list[str],
    pick: Callable[[list[str], str], list[str]],
    detail: str,
) -> None:
    # given
    ids = [add(client, alice, track, collection_name="A")["id"] for track in tracks[:3]]
    other = add(client, alice, tracks[3], collection_name="B")["id"]
    # when
    response = client.post(
        f"{REFERENCES}/reorder", headers=alice.headers, json={"collection_name": "A", "ids": pick(ids, other)}
    )
    # then
    assert response.status_code == 422
    assert response.json()["field"] == "ids"
    assert detail in response.json()["detail"]
    assert [r["id"] for r in listing(client, alice, collection_name="A")["data"]] == ids


def test_reorder_of_an_unknown_collection_is_not_found(client: TestClient, alice: Account) -> None:
    # when
    response = client.post(f"{REFERENCES}/reorder", headers=alice.headers, json={"collection_name": "A", "ids": []})
    # then
    assert response.status_code == 404
    assert response.json()["detail"] == "collection not found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"tags": ["x"] * 33}, "tags"),
        ({"tags": ["x" * 65]}, "tags.0"),
        ({"tags": [""]}, "tags.0"),
        ({"collection_name": ""}, "collection_name"),
        ({"collection_name": "x" * 201}, "collection_name"),
        ({"notes": "nul \x00 here"}, "notes"),
        ({"sort_order": 2**31}, "sort_order"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_malformed_bodies_are_refused_naming_the_field(
    client: TestClient, alice: Account, tracks: list[str], body: dict[str, Any], field: str
) -> None:
    # given
    existing = add(client, alice, tracks[0])
    # when
    created = client.post(REFERENCES, headers=alice.headers, json={"track_id": tracks[1], **body})
    updated = client.patch(f"{REFERENCES}/{existing['id']}", headers=alice.headers, json=body)
    # then
    for response in (created, updated):
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field


def test_thirty_two_tags_of_sixty_four_characters_are_fine(
    client: TestClient, alice: Account, tracks: list[str]
) -> None:
    tags = [f"{i:02d}" + "x" * 62 for i in range(32)]
    assert add(client, alice, tracks[0], tags=tags)["tags"] == tags


def test_null_is_refused_for_required_fields_on_update(client: TestClient, alice: Account, tracks: list[str]) -> None:
    # given
    existing = add(client, alice, tracks[0])
    # when
    responses = [
        client.patch(f"{REFERENCES}/{existing['id']}", headers=alice.headers, json={field: None})
        for field in ("collection_name", "tags", "is_favorite", "sort_order")
    ]
    # then
    assert [(r.status_code, r.json()["field"]) for r in responses] == [
        (422, "collection_name"),
        (422, "tags"),
        (422, "is_favorite"),
        (422, "sort_order"),
    ]


def test_deleting_the_track_removes_its_references(
    client: TestClient, alice: Account, tracks: list[str], session: Session
) -> None:
    # given
    add(client, alice, tracks[0], collection_name="A")
    add(client, alice, tracks[0], collection_name="B")
    # when
    assert client.delete(f"/v1/tracks/{tracks[0]}", headers=alice.headers).status_code == 204
    # then
    assert listing(client, alice)["data"] == []
    assert session.scalar(select(func.count()).select_from(Reference)) == 0


def test_another_users_tracks_and_references_do_not_exist(
    client: TestClient, alice: Account, bob: Account, tracks: list[str], clips: list[Path]
) -> None:
    # given
    alices = add(client, alice, tracks[0], collection_name="Shared name", is_favorite=True)
    bobs_track = upload(client, bob, clips[0], "Bob's")
    bobs = add(client, bob, bobs_track, collection_name="Shared name")
    url = f"{REFERENCES}/{alices['id']}"
    # when
    responses = {
        "add alice's track": client.post(REFERENCES, headers=bob.headers, json={"track_id": tracks[1]}),
        "get": client.get(url, headers=bob.headers),
        "update": client.patch(url, headers=bob.headers, json={"notes": "mine"}),
        "move": client.patch(url, headers=bob.headers, json={"collection_name": "Bob's"}),
        "delete": client.delete(url, headers=bob.headers),
    }
    reorder_foreign = client.post(
        f"{REFERENCES}/reorder",
        headers=bob.headers,
        json={"collection_name": "Shared name", "ids": [bobs["id"], alices["id"]]},
    )
    reorder_unknown = client.post(
        f"{REFERENCES}/reorder", headers=bob.headers, json={"collection_name": "Only Alice's", "ids": [alices["id"]]}
    )
    # then
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 404)
    assert responses["add alice's track"].json()["detail"] == "track not found"
    assert responses["get"].json()["detail"] == "reference not found"
    assert reorder_foreign.status_code == 422
    assert reorder_unknown.status_code == 404
    assert [r["id"] for r in listing(client, bob)["data"]] == [bobs["id"]]
    assert client.get(f"{REFERENCES}/collections", headers=bob.headers).json()["data"] == [
        {"name": "Shared name", "count": 1, "favorite_count": 0}
    ]
    assert client.get(url, headers=alice.headers).json() == alices


def test_references_need_a_token(client: TestClient) -> None:
    assert client.get(REFERENCES).status_code == 401
    assert client.get(f"{REFERENCES}/collections").status_code == 401


def test_the_former_collection_filter_name_still_works(client: TestClient, alice: Account, tracks: list[str]) -> None:
    # given
    a = add(client, alice, tracks[0], collection_name="A")
    add(client, alice, tracks[1], collection_name="B")
    # when
    former = listing(client, alice, collection="A")
    both = client.get(REFERENCES, headers=alice.headers, params={"collection": "A", "collection_name": "B"})
    # then
    assert [r["id"] for r in former["data"]] == [a["id"]]
    assert both.status_code == 422
    assert both.json()["detail"] == "collection: give collection_name only (collection is its former name)"


def test_the_collection_is_named_alike_to_create_filter_reorder_and_read(
    client: TestClient, alice: Account, tracks: list[str]
) -> None:
    # given
    first = add(client, alice, tracks[0], collection_name="Club")
    second = add(client, alice, tracks[1], collection_name="Club")
    # when
    reordered = client.post(
        f"{REFERENCES}/reorder",
        headers=alice.headers,
        json={"collection_name": "Club", "ids": [second["id"], first["id"]]},
    )
    listed = listing(client, alice, collection_name="Club")
    # then
    assert reordered.status_code == 200
    assert [r["id"] for r in listed["data"]] == [second["id"], first["id"]]
    assert {r["collection_name"] for r in listed["data"]} == {"Club"}
