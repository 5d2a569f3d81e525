"""Every numeric query parameter has an upper bound: a huge value is a 422 naming it, never a 500.

``?offset=10000000000000000000`` reached the database as a bind parameter (SQLite: OverflowError; PostgreSQL:
bigint out of range). The parameters are walked from the OpenAPI document, so one added later without a bound
fails here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.app import create_app
from service.db import session_scope
from service.user.service import user as user_service
from tests.fixtures.app import Account
from tests.fixtures.audio import sine, write_audio

_DOCUMENT = create_app().openapi()


def _numeric(schema: dict[str, object]) -> dict[str, object] | None:
    options = schema.get("anyOf", [schema])
    assert isinstance(options, list)
    for option in options:
        if option.get("type") in ("integer", "number"):
            return dict(option)
    return None


_NUMERIC_PARAMETERS = sorted(
    (method.upper(), path, parameter["name"], numeric)
    for path, item in _DOCUMENT["paths"].items()
    for method, operation in item.items()
    for parameter in operation.get("parameters", [])
    if parameter["in"] == "query" and (numeric := _numeric(parameter["schema"])) is not None
)
_HUGE = {"integer": "10000000000000000000", "number": "1e309"}


@pytest.fixture
def admin(session_factory: Callable[[], Session]) -> Account:
    with session_scope(session_factory) as s:
        created = user_service.create(s, email="admin@example.com", role="admin")
        token = user_service.issue_token(s, user=created).token
    return Account(user=created, token=token)


@pytest.fixture
def track_id(client: TestClient, alice: Account, tmp_path: Path) -> str:
    audio = write_audio(tmp_path / "tone.wav", sine(freq_hz=440.0, seconds=1.0), 44100, "wav")
    with audio.open("rb") as fh:
        response = client.post("/v1/tracks", headers=alice.headers, files={"file": ("tone.wav", fh)})
    assert response.status_code == 202, response.text
    track_id: str = response.json()["id"]
    return track_id


def test_the_walk_finds_the_pagination_and_window_parameters() -> None:
    # then
    found = {(path, name) for _, path, name, _ in _NUMERIC_PARAMETERS}
    assert ("/v1/tracks/{track_id}/analyses", "offset") in found
    assert ("/v1/references", "offset") in found
    assert ("/v1/tracks", "limit") in found
    assert ("/v1/tracks/{track_id}/waveform", "channels") in found
    assert len(_NUMERIC_PARAMETERS) == 26


@pytest.mark.parametrize(("method", "path", "name", "schema"), _NUMERIC_PARAMETERS)
def test_every_numeric_query_parameter_declares_a_maximum(
    method: str, path: str, name: str, schema: dict[str, object]
) -> None:
    # then
    assert "maximum" in schema, f"{method} {path}?{name} has no upper bound"


@pytest.mark.parametrize(("method", "path", "name", "schema"), _NUMERIC_PARAMETERS)
def test_a_huge_value_of_any_numeric_query_parameter_is_a_422_naming_it(
    client: TestClient,
    alice: Account,
    admin: Account,
    track_id: str,
    method: str,
    path: str,
    name: str,
    schema: dict[str, object],
) -> None:
    # given: the path names a real track of the caller, so the request would reach the database
    caller = admin if path.startswith("/v1/admin/") else alice
    url = path.replace("{track_id}", track_id).replace("{feature}", "rms")
    url = url.replace("{preset_id}", str(uuid.uuid4()))
    # when
    response = client.request(method, url, headers=caller.headers, params={name: _HUGE[str(schema["type"])]})
    # then
    assert response.status_code == 422, response.text
    assert response.json()["field"] == name


def test_the_largest_offset_of_the_analysis_history_is_an_empty_page(
    client: TestClient, alice: Account, track_id: str
) -> None:
    # when
    response = client.get(f"/v1/tracks/{track_id}/analyses", headers=alice.headers, params={"offset": 1_000_000})
    # then
    assert response.status_code == 200
    assert response.json() == {"data": [], "count": 1}


def test_an_offset_beyond_any_history_is_refused(client: TestClient, alice: Account, track_id: str) -> None:
    # when
    response = client.get(
        f"/v1/tracks/{track_id}/analyses", headers=alice.headers, params={"offset": "10000000000000000000"}
    )
    # then
    assert response.status_code == 422
    assert response.json()["detail"] == "offset: Input should be less than or equal to 1000000"
