"""Listening prompt templates over HTTP: anyone reads the active ones, only admins change them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.models import AuditLog
from service.listening_prompt import engine
from tests.fixtures.app import Account

TEMPLATES = "/v1/listening-prompts/templates"

NEW_TEMPLATE: dict[str, Any] = {
    "key": "low_end_sidechain",
    "name": "Sidechain pump",
    "description": "How the bass ducks under the kick.",
    "category": "low_end",
    "prompt_text": "At {at}, the low band carries {low_share_pct}% of the energy. Does the bass duck under the kick?",
    "placement_rule": "loudest_section",
    "sort_order": 15,
}


def create(client: TestClient, account: Account, **overrides: Any) -> dict[str, Any]:
    response = client.post(TEMPLATES, headers=account.headers, json={**NEW_TEMPLATE, **overrides})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_any_user_lists_the_active_templates_by_category_sort_order_and_id(client: TestClient, alice: Account) -> None:
    # when
    response = client.get(TEMPLATES, headers=alice.headers)
    # then
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 24
    order = [(t["category"], t["sort_order"], t["id"]) for t in body["data"]]
    assert order == sorted(order)
    assert {t["category"] for t in body["data"]} == {
        "arrangement",
        "dynamics",
        "groove",
        "low_end",
        "reference",
        "stereo",
        "tonal_balance",
        "vocal_lead",
    }
    first = body["data"][0]
    assert first["key"] == "arrangement_intro"
    assert first["placeholders"] == ["at"]
    for item in body["data"]:
        assert engine.validate_template(item["prompt_text"], item["placement_rule"]) == tuple(item["placeholders"])


def test_listing_needs_a_token(client: TestClient) -> None:
    assert client.get(TEMPLATES).status_code == 401


def test_admin_creates_updates_and_deletes_a_template(client: TestClient, admin: Account, session: Session) -> None:
    # when
    created = create(client, admin)
    # then
    assert created["key"] == "low_end_sidechain"
    assert created["placeholders"] == ["at", "low_share_pct"]
    assert created["is_active"] is True
    listed = client.get(TEMPLATES, headers=admin.headers).json()
    low_end = [t["key"] for t in listed["data"] if t["category"] == "low_end"]
    assert low_end == ["low_end_kick_bass", "low_end_sub_weight", "low_end_sidechain", "low_end_mono"]

    # when
    response = client.patch(
        f"{TEMPLATES}/{created['id']}",
        headers=admin.headers,
        json={"prompt_text": "Listen at {at} in {key}.", "placement_rule": "first_drop", "description": None},
    )
    # then
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["prompt_text"] == "Listen at {at} in {key}."
    assert updated["placement_rule"] == "first_drop"
    assert updated["description"] is None
    assert updated["name"] == "Sidechain pump"
    assert updated["placeholders"] == ["at", "key"]

    # when
    response = client.delete(f"{TEMPLATES}/{created['id']}", headers=admin.headers)
    # then
    assert response.status_code == 204
    assert client.get(f"{TEMPLATES}/{created['id']}", headers=admin.headers).status_code == 404
    actions = session.scalars(
        select(AuditLog.action).where(AuditLog.target_id == created["id"]).order_by(AuditLog.created_at)
    ).all()
    assert sorted(actions) == [
        "listening_prompt_template.created",
        "listening_prompt_template.deleted",
        "listening_prompt_template.updated",
    ]


def test_non_admins_cannot_change_templates(client: TestClient, alice: Account, admin: Account) -> None:
    # given
    existing = create(client, admin)
    # when
    responses = [
        client.post(TEMPLATES, headers=alice.headers, json={**NEW_TEMPLATE, "key": "other"}),
        client.patch(f"{TEMPLATES}/{existing['id']}", headers=alice.headers, json={"name": "Mine"}),
        client.delete(f"{TEMPLATES}/{existing['id']}", headers=alice.headers),
        client.get(TEMPLATES, headers=alice.headers, params={"include_inactive": "true"}),
    ]
    # then
    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert {r.json()["error"] for r in responses} == {"Forbidden"}
    unchanged = client.get(f"{TEMPLATES}/{existing['id']}", headers=alice.headers).json()
    assert unchanged["name"] == "Sidechain pump"


@pytest.mark.parametrize(
    ("changes", "field", "detail"),
    [
        ({"prompt_text": "At {at}, the {snare_db} dB snare"}, "prompt_text", "{snare_db}"),
        ({"prompt_text": "At {at"}, "prompt_text", "prompt_text:"),
        ({"prompt_text": "At {at:.1f}"}, "prompt_text", "format specification"),
        ({"prompt_text": "Loop {region_name}"}, "prompt_text", "{region_name} needs placement_rule region"),
        ({"placement_rule": "loudest_chorus"}, "placement_rule", "'loudest_chorus'"),
    ],
)
def test_templates_the_engine_cannot_bind_are_refused_naming_the_field(
    client: TestClient, admin: Account, changes: dict[str, Any], field: str, detail: str
) -> None:
    # given
    existing = create(client, admin)
    # when
    created = client.post(TEMPLATES, headers=admin.headers, json={**NEW_TEMPLATE, "key": "another", **changes})
    updated = client.patch(f"{TEMPLATES}/{existing['id']}", headers=admin.headers, json=changes)
    # then
    for response in (created, updated):
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["error"] == "InvalidInput"
        assert body["field"] == field
        assert detail in body["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW_TEMPLATE, "key": "Not A Key"}, "key"),
        ({**NEW_TEMPLATE, "category": ""}, "category"),
        ({**NEW_TEMPLATE, "name": "x" * 201}, "name"),
        ({**NEW_TEMPLATE, "prompt_text": "nul \x00 here"}, "prompt_text"),
        ({**NEW_TEMPLATE, "sort_order": 2**40}, "sort_order"),
        ({**NEW_TEMPLATE, "colour": "red"}, "colour"),
    ],
)
def test_malformed_template_bodies_are_refused_naming_the_field(
    client: TestClient, admin: Account, body: dict[str, Any], field: str
) -> None:
    # when
    response = client.post(TEMPLATES, headers=admin.headers, json=body)
    # then
    assert response.status_code == 422
    assert response.json()["field"] == field


def test_null_is_refused_for_required_fields_on_update(client: TestClient, admin: Account) -> None:
    # given
    existing = create(client, admin)
    # when
    response = client.patch(f"{TEMPLATES}/{existing['id']}", headers=admin.headers, json={"name": None})
    # then
    assert response.status_code == 422
    assert response.json()["field"] == "name"


def test_duplicate_key_is_a_conflict(client: TestClient, admin: Account) -> None:
    # when
    response = client.post(TEMPLATES, headers=admin.headers, json={**NEW_TEMPLATE, "key": "dynamics_crest"})
    # then
    assert response.status_code == 409
    assert response.json()["field"] == "key"


def test_inactive_templates_are_hidden_from_users_and_shown_to_admins(
    client: TestClient, alice: Account, admin: Account
) -> None:
    # given
    hidden = create(client, admin, is_active=False)
    # when
    for_alice = client.get(TEMPLATES, headers=alice.headers).json()
    for_admin = client.get(TEMPLATES, headers=admin.headers, params={"include_inactive": "true"}).json()
    # then
    assert hidden["id"] not in {t["id"] for t in for_alice["data"]}
    assert for_alice["count"] == 24
    assert hidden["id"] in {t["id"] for t in for_admin["data"]}
    assert for_admin["count"] == 25
    assert client.get(f"{TEMPLATES}/{hidden['id']}", headers=alice.headers).status_code == 404
    assert client.get(f"{TEMPLATES}/{hidden['id']}", headers=admin.headers).status_code == 200


def test_unknown_template_is_not_found(client: TestClient, admin: Account) -> None:
    missing = f"{TEMPLATES}/{uuid.uuid4()}"
    assert client.get(missing, headers=admin.headers).status_code == 404
    assert client.patch(missing, headers=admin.headers, json={"name": "x"}).status_code == 404
    assert client.delete(missing, headers=admin.headers).status_code == 404


def test_placeholders_endpoint_lists_what_templates_may_use(client: TestClient, alice: Account) -> None:
    # when
    response = client.get("/v1/listening-prompts/placeholders", headers=alice.headers)
    # then
    assert response.status_code == 200
    body = response.json()
    assert [r["name"] for r in body["placement_rules"]] == list(engine.PLACEMENT_RULES)
    assert [p["name"] for p in body["placeholders"]] == list(engine.PLACEHOLDERS)
    by_name = {p["name"]: p for p in body["placeholders"]}
    assert by_name["lufs"] == {
        "name": "lufs",
        "description": "Integrated loudness of the track",
        "unit": "LUFS",
        "stereo": False,
        "placement_rules": None,
    }
    assert by_name["region_name"]["placement_rules"] == ["region"]
    assert by_name["width_pct"]["stereo"] is True
