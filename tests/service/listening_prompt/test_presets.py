"""Listening prompt presets over HTTP: each user's own, one default at a time, configurations validated."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from service.annotation.models import TrackRegion
from service.db import session_scope, utcnow
from service.listening_prompt.models import ListeningPromptPreset, ListeningPromptTemplate
from tests.fixtures.analysed import AnalysedTrack
from tests.fixtures.app import Account

PRESETS = "/v1/listening-prompts/presets"


def create(client: TestClient, account: Account, **body: Any) -> dict[str, Any]:
    response = client.post(PRESETS, headers=account.headers, json={"name": "Preset", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def listed(client: TestClient, account: Account) -> list[dict[str, Any]]:
    response = client.get(PRESETS, headers=account.headers)
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == len(body["data"])
    data: list[dict[str, Any]] = body["data"]
    return data


def test_create_read_update_delete(client: TestClient, alice: Account) -> None:
    # when
    created = create(
        client,
        alice,
        name="  Low end check ",
        configuration={"templates": ["low_end_mono", "low_end_kick_bass"], "max_prompts": 2},
    )
    # then
    assert created["name"] == "Low end check"
    assert created["configuration"] == {
        "templates": ["low_end_mono", "low_end_kick_bass"],
        "categories": None,
        "max_prompts": 2,
        "region_id": None,
    }
    assert created["is_default"] is False
    assert created["sort_order"] == 0
    assert client.get(f"{PRESETS}/{created['id']}", headers=alice.headers).json() == created

    # when
    response = client.patch(
        f"{PRESETS}/{created['id']}",
        headers=alice.headers,
        json={"name": "Low end", "configuration": {"categories": ["low_end"]}},
    )
    # then
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "Low end"
    assert updated["configuration"] == {
        "templates": None,
        "categories": ["low_end"],
        "max_prompts": None,
        "region_id": None,
    }
    assert updated["sort_order"] == 0

    # when
    response = client.delete(f"{PRESETS}/{created['id']}", headers=alice.headers)
    # then
    assert response.status_code == 204
    assert client.get(f"{PRESETS}/{created['id']}", headers=alice.headers).status_code == 404
    assert listed(client, alice) == []


def test_presets_are_ordered_by_sort_order_then_creation(
    client: TestClient, alice: Account, session_factory: Callable[[], Session]
) -> None:
    # given: new presets go after the last one unless told otherwise
    first = create(client, alice, name="first")
    second = create(client, alice, name="second")
    pinned = create(client, alice, name="pinned", sort_order=-5)
    tied = create(client, alice, name="tied", sort_order=1)
    # second and tied share sort order 1: the older one comes first
    with session_scope(session_factory) as s:
        s.execute(
            update(ListeningPromptPreset)
            .where(ListeningPromptPreset.id == uuid.UUID(tied["id"]))
            .values(created_at=utcnow() - timedelta(days=1))
        )
    # when
    names = [p["name"] for p in listed(client, alice)]
    # then
    assert (first["sort_order"], second["sort_order"]) == (0, 1)
    assert pinned["sort_order"] == -5
    assert names == ["pinned", "first", "tied", "second"]


def test_only_one_default_per_user(client: TestClient, alice: Account, bob: Account) -> None:
    # given
    bobs = create(client, bob, name="bob's", is_default=True)
    one = create(client, alice, name="one", is_default=True)
    two = create(client, alice, name="two")
    # when: creating a new default
    three = create(client, alice, name="three", is_default=True)
    # then
    assert {p["name"]: p["is_default"] for p in listed(client, alice)} == {"one": False, "two": False, "three": True}
    # when: switching the default with an update
    response = client.patch(f"{PRESETS}/{two['id']}", headers=alice.headers, json={"is_default": True})
    # then
    assert response.json()["is_default"] is True
    assert {p["name"]: p["is_default"] for p in listed(client, alice)} == {"one": False, "two": True, "three": False}
    # when: unsetting it
    client.patch(f"{PRESETS}/{two['id']}", headers=alice.headers, json={"is_default": False})
    # then
    assert [p["is_default"] for p in listed(client, alice)] == [False, False, False]
    # and another user's default is untouched throughout
    assert client.get(f"{PRESETS}/{bobs['id']}", headers=bob.headers).json()["is_default"] is True
    assert one["id"] != three["id"]


@pytest.mark.parametrize(
    ("configuration", "field", "detail"),
    [
        ({"templates": ["low_end_mono", "no_such_template"]}, "configuration.templates", "'no_such_template'"),
        ({"categories": ["low_end", "polka"]}, "configuration.categories", "'polka'"),
        ({"region_id": "0b9f7a52-4c57-4f0e-9d0c-1f5c7e2b8a10"}, "configuration.region_id", "region not found"),
        ({"templates": ["low_end_mono", "low_end_mono"]}, "configuration.templates", "listed twice"),
        ({"templates": []}, "configuration.templates", ""),
        ({"templates": ["Not A Key"]}, "configuration.templates.0", ""),
        ({"max_prompts": 0}, "configuration.max_prompts", ""),
        ({"max_prompts": 101}, "configuration.max_prompts", ""),
        ({"region_id": "not-a-uuid"}, "configuration.region_id", ""),
        ({"colour": "red"}, "configuration.colour", ""),
    ],
)
def test_configurations_are_validated_naming_the_field(
    client: TestClient, alice: Account, configuration: dict[str, Any], field: str, detail: str
) -> None:
    # given
    existing = create(client, alice)
    # when
    created = client.post(PRESETS, headers=alice.headers, json={"name": "x", "configuration": configuration})
    updated = client.patch(f"{PRESETS}/{existing['id']}", headers=alice.headers, json={"configuration": configuration})
    # then
    for response in (created, updated):
        assert response.status_code == 422, response.text
        assert response.json()["field"] == field
        assert detail in response.json()["detail"]
    assert client.get(f"{PRESETS}/{existing['id']}", headers=alice.headers).json() == existing


def test_inactive_templates_are_unknown_to_presets(client: TestClient, alice: Account, session: Session) -> None:
    # given
    session.execute(
        update(ListeningPromptTemplate).where(ListeningPromptTemplate.key == "vocal_space").values(is_active=False)
    )
    session.commit()
    # when
    response = client.post(
        PRESETS, headers=alice.headers, json={"name": "x", "configuration": {"templates": ["vocal_space"]}}
    )
    # then
    assert response.status_code == 422
    assert response.json()["field"] == "configuration.templates"


def test_a_region_of_ones_own_is_accepted_and_another_users_is_not(
    client: TestClient,
    alice: Account,
    bob: Account,
    analysed_track: AnalysedTrack,
    session_factory: Callable[[], Session],
) -> None:
    # given
    with session_scope(session_factory) as s:
        region = TrackRegion(
            track_id=uuid.UUID(analysed_track.track_id),
            user_id=alice.user.id,
            name="Drop",
            start_time_seconds=4.0,
            end_time_seconds=12.0,
        )
        s.add(region)
        s.flush()
        region_id = str(region.id)
    # when
    mine = client.post(PRESETS, headers=alice.headers, json={"name": "x", "configuration": {"region_id": region_id}})
    theirs = client.post(PRESETS, headers=bob.headers, json={"name": "x", "configuration": {"region_id": region_id}})
    # then
    assert mine.status_code == 201
    assert mine.json()["configuration"]["region_id"] == region_id
    assert theirs.status_code == 422
    assert theirs.json()["field"] == "configuration.region_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": ""}, "name"), ({"name": "x" * 201}, "name"), ({"name": "x", "sort_order": 2**31}, "sort_order")],
)
def test_malformed_bodies_are_refused_naming_the_field(
    client: TestClient, alice: Account, body: dict[str, Any], field: str
) -> None:
    # when
    response = client.post(PRESETS, headers=alice.headers, json=body)
    # then
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_null_is_refused_for_required_fields_on_update(client: TestClient, alice: Account) -> None:
    # given
    existing = create(client, alice)
    # when
    responses = [
        client.patch(f"{PRESETS}/{existing['id']}", headers=alice.headers, json={field: None})
        for field in ("name", "configuration", "is_default", "sort_order")
    ]
    # then
    assert [(r.status_code, r.json()["field"]) for r in responses] == [
        (422, "name"),
        (422, "configuration"),
        (422, "is_default"),
        (422, "sort_order"),
    ]


def test_another_users_presets_do_not_exist(client: TestClient, alice: Account, bob: Account) -> None:
    # given
    alices = create(client, alice, name="alice's", is_default=True)
    url = f"{PRESETS}/{alices['id']}"
    # when
    responses = [
        client.get(url, headers=bob.headers),
        client.patch(url, headers=bob.headers, json={"name": "bob's now"}),
        client.patch(url, headers=bob.headers, json={"is_default": True}),
        client.delete(url, headers=bob.headers),
    ]
    # then
    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert {r.json()["detail"] for r in responses} == {"preset not found"}
    assert listed(client, bob) == []
    assert client.get(url, headers=alice.headers).json() == alices


def test_presets_need_a_token(client: TestClient) -> None:
    assert client.get(PRESETS).status_code == 401
    assert client.post(PRESETS, json={"name": "x"}).status_code == 401
