"""Request-level input checks: NUL characters, non-finite numbers, depth and size of JSON bodies, invalid JSON.

Each of these reached the database or the serialiser and answered 500 on PostgreSQL (or stored null on SQLite).
They are refused in one place, before any route runs, so the operations are walked from the OpenAPI document:
a route added later is covered without editing this file.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.middleware import MAX_JSON_DEPTH
from service.track.models import Track
from service.track.schemas import MAX_METADATA_BYTES
from tests.fixtures.app import Account
from tests.service.api.support import operations, upload_tone

_OPERATIONS = [(method, path, operation) for method, path, operation in operations() if operation.get("security")]
_QUERY_PARAMETERS = sorted(
    {
        (method, path, parameter["name"])
        for method, path, operation in _OPERATIONS
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
    }
)
_JSON_BODIES = sorted(
    (method, path)
    for method, path, operation in _OPERATIONS
    if "application/json" in operation.get("requestBody", {}).get("content", {})
    and "text/plain" not in operation["requestBody"]["content"]
)


def _url(path: str) -> str:
    # Every path parameter is an id or a feature name; the checks run before any route looks at them.
    return path.replace("{feature}", "rms").format_map(_AnyId())


class _AnyId(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return str(uuid.uuid4())


@pytest.fixture
def track_id(client: TestClient, alice: Account, tmp_path: Path) -> str:
    return upload_tone(client, alice, tmp_path)


def _patch(client: TestClient, account: Account, track_id: str, body: str | bytes) -> Any:
    return client.patch(
        f"/v1/tracks/{track_id}",
        headers=account.headers | {"Content-Type": "application/json"},
        content=body,
    )


def test_every_query_parameter_is_walked() -> None:
    # then: the walk below is not vacuous (the library filters, windows, pagination and formats)
    names = {name for _, _, name in _QUERY_PARAMETERS}
    assert {"q", "genre", "artist", "key", "cursor", "offset", "limit", "category", "format", "start"} <= names


@pytest.mark.parametrize(("method", "path", "name"), _QUERY_PARAMETERS)
def test_a_nul_character_in_any_query_parameter_is_a_422_naming_it(
    client: TestClient, alice: Account, method: str, path: str, name: str
) -> None:
    # when
    response = client.request(method, _url(path), headers=alice.headers, params={name: "a\x00b"})
    # then
    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "ValidationError",
        "detail": f"{name}: must not contain NUL characters",
        "field": name,
    }


@pytest.mark.parametrize("name", ["q", "genre", "artist", "key", "cursor"])
def test_library_filters_with_a_nul_character_are_refused_on_both_databases(
    client: TestClient, alice: Account, track_id: str, name: str
) -> None:
    # when: the filters PostgreSQL used to receive as text (psycopg refuses NUL: a 500)
    response = client.get("/v1/tracks", headers=alice.headers, params={name: "Midnight\x00City"})
    # then
    assert response.status_code == 422, response.text
    assert response.json()["field"] == name


def test_a_nul_character_in_the_path_is_a_422(client: TestClient, alice: Account, track_id: str) -> None:
    # when
    response = client.get(f"/v1/tracks/{track_id}/features/rms%00", headers=alice.headers)
    # then
    assert response.status_code == 422
    assert response.json() == {
        "error": "ValidationError",
        "detail": "path: must not contain NUL characters",
        "field": "path",
    }


@pytest.mark.parametrize(("method", "path"), _JSON_BODIES)
@pytest.mark.parametrize(
    ("body", "field", "detail"),
    [
        ('{"name": "a\\u0000b"}', "name", "must not contain NUL characters"),
        ('{"tags": ["ok", "\\u0000"]}', "tags.1", "must not contain NUL characters"),
        ('{"x": NaN}', "x", "must be a finite number, not NaN"),
        ('{"x": {"y": -Infinity}}', "x.y", "must be a finite number, not -Infinity"),
        ('{"x": 1e999}', "x", "must be a finite number, not inf"),
        ('{"x": "\\ud800"}', "x", "must be valid Unicode text (no lone surrogates)"),
    ],
)
def test_every_json_body_refuses_nul_and_non_finite_numbers_before_validation(
    client: TestClient, alice: Account, method: str, path: str, body: str, field: str, detail: str
) -> None:
    # when
    response = client.request(
        method, _url(path), headers=alice.headers | {"Content-Type": "application/json"}, content=body
    )
    # then
    assert response.status_code == 422, response.text
    assert response.json() == {"error": "ValidationError", "detail": f"{field}: {detail}", "field": field}


def test_the_walk_covers_every_json_body() -> None:
    # then: 16 operations take a JSON body (the label-file imports read theirs as a file, and check it there)
    assert len(_JSON_BODIES) == 16
    assert ("PATCH", "/v1/tracks/{track_id}") in _JSON_BODIES


@pytest.mark.parametrize(
    ("changes", "field", "detail"),
    [
        ({"title": "Midnight\x00City"}, "title", "must not contain NUL characters"),
        ({"artist": "\x00"}, "artist", "must not contain NUL characters"),
        ({"metadata": {"label\x00": "x"}}, "metadata", "keys must not contain NUL characters"),
        ({"metadata": {"label": "Na\x00ve"}}, "metadata.label", "must not contain NUL characters"),
    ],
)
def test_patching_a_track_with_nul_is_refused_and_changes_nothing(
    client: TestClient, alice: Account, track_id: str, changes: dict[str, Any], field: str, detail: str
) -> None:
    # given
    before = client.get(f"/v1/tracks/{track_id}", headers=alice.headers).json()
    # when
    response = client.patch(f"/v1/tracks/{track_id}", headers=alice.headers, json=changes)
    # then
    assert response.status_code == 422, response.text
    assert response.json() == {"error": "ValidationError", "detail": f"{field}: {detail}", "field": field}
    after = client.get(f"/v1/tracks/{track_id}", headers=alice.headers).json()
    assert after["title"] == before["title"]
    assert after["metadata"] == before["metadata"]


@pytest.mark.parametrize(
    ("literal", "shown"), [("NaN", "NaN"), ("Infinity", "Infinity"), ("-Infinity", "-Infinity"), ("1e400", "inf")]
)
def test_non_finite_metadata_is_refused_instead_of_stored_as_null_or_failing(
    client: TestClient, alice: Account, track_id: str, literal: str, shown: str
) -> None:
    # when: Python's json (and so FastAPI) accepts these; PostgreSQL's json refuses them, SQLite stored null
    response = _patch(client, alice, track_id, f'{{"metadata": {{"gain": {literal}}}}}')
    # then
    assert response.status_code == 422, response.text
    assert response.json() == {
        "error": "ValidationError",
        "detail": f"metadata.gain: must be a finite number, not {shown}",
        "field": "metadata.gain",
    }
    stored = client.get(f"/v1/tracks/{track_id}", headers=alice.headers).json()["metadata"]
    assert "gain" not in stored


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


def test_metadata_nested_as_deep_as_allowed_is_stored(client: TestClient, alice: Account, track_id: str) -> None:
    # given: the body object, metadata and its value are 3 levels; the value nests the rest
    metadata = {"deep": _nested(MAX_JSON_DEPTH - 2)}
    # when
    response = client.patch(f"/v1/tracks/{track_id}", headers=alice.headers, json={"metadata": metadata})
    # then
    assert response.status_code == 200, response.text
    assert response.json()["metadata"]["deep"] == metadata["deep"]


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH - 1, 900])
def test_metadata_nested_deeper_is_a_422_not_a_serialisation_error(
    client: TestClient, alice: Account, track_id: str, levels: int
) -> None:
    # when: 900 levels used to be stored, then fail to serialise in the response (a 500)
    response = client.patch(
        f"/v1/tracks/{track_id}", headers=alice.headers, json={"metadata": {"deep": _nested(levels)}}
    )
    # then
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "ValidationError"
    assert body["field"] == "metadata.deep" + ".0" * (MAX_JSON_DEPTH - 2)
    assert body["detail"] == f"{body['field']}: nested deeper than {MAX_JSON_DEPTH} levels"


def test_json_nested_beyond_the_parser_is_a_422(client: TestClient, alice: Account, track_id: str) -> None:
    # when: deeper than Python's recursion limit
    response = _patch(client, alice, track_id, '{"metadata": {"x": ' + "[" * 50_000 + "]" * 50_000 + "}}")
    # then
    assert response.status_code == 422
    assert response.json() == {
        "error": "ValidationError",
        "detail": f"body: nested deeper than {MAX_JSON_DEPTH} levels",
        "field": "body",
    }


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"title": ', b"[1,", b'{"title": "x"} trailing', b"\xff\xfe\xfd", b'{"title": "x",}', b"{'title': 'x'}"],
)
def test_a_body_that_is_not_json_answers_as_documented(
    client: TestClient, alice: Account, track_id: str, body: bytes
) -> None:
    # when: FastAPI named the character offset as the field ("field": "1")
    response = _patch(client, alice, track_id, body)
    # then
    assert response.status_code == 422
    assert response.json() == {"error": "ValidationError", "detail": "body: not valid JSON", "field": "body"}


def test_a_json_body_that_is_not_an_object_names_the_body(client: TestClient, alice: Account, track_id: str) -> None:
    # when
    response = _patch(client, alice, track_id, b"[1, 2]")
    # then
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "body"
    assert body["detail"] == "body: Input should be a valid dictionary or object to extract fields from"


def _over_the_limit() -> bytes:
    limit = 1 << 20
    return json.dumps({"metadata": {"blob": "x" * limit}}).encode()


def test_a_json_body_over_its_limit_is_a_413_from_content_length(
    client: TestClient, alice: Account, track_id: str
) -> None:
    # when: far below the upload limit (1 GiB), over the JSON limit (1 MiB)
    response = _patch(client, alice, track_id, _over_the_limit())
    # then
    assert response.status_code == 413
    assert response.json() == {
        "error": "PayloadTooLarge",
        "detail": f"request body exceeds the {1 << 20} byte limit of JSON bodies",
    }


def test_a_chunked_json_body_over_its_limit_is_a_413_while_streaming(
    client: TestClient, alice: Account, track_id: str
) -> None:
    # given: no Content-Length, so the limit is counted as the body arrives
    payload = _over_the_limit()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(payload), 64 * 1024):
            yield payload[start : start + 64 * 1024]

    # when
    response = client.patch(
        f"/v1/tracks/{track_id}", headers=alice.headers | {"Content-Type": "application/json"}, content=chunks()
    )
    # then
    assert response.status_code == 413
    assert response.json()["error"] == "PayloadTooLarge"


def test_refused_bodies_leave_the_track_as_it_was(
    client: TestClient, alice: Account, track_id: str, session_factory: Callable[[], Session]
) -> None:
    # given
    for body in (b'{"title": "\\u0000"}', b'{"metadata": {"x": NaN}}', _over_the_limit(), b"{"):
        assert _patch(client, alice, track_id, body).status_code in (413, 422)
    # when
    with session_factory() as s:
        titles = s.scalars(select(Track.title).where(Track.user_id == alice.user.id)).all()
        count = s.scalar(select(func.count()).select_from(Track).where(Track.user_id == alice.user.id))
    # then
    assert list(titles) == ["tone"]
    assert count == 1


def test_free_form_metadata_is_bounded_in_size(client: TestClient, alice: Account, track_id: str) -> None:
    # given: well under the body limit, over what a track's metadata may hold
    metadata = {f"k{i}": "x" * 1000 for i in range(17)}
    # when
    response = client.patch(f"/v1/tracks/{track_id}", headers=alice.headers, json={"metadata": metadata})
    # then
    assert response.status_code == 422
    assert response.json() == {
        "error": "InvalidInput",
        "detail": f"metadata: must be at most {MAX_METADATA_BYTES} bytes as JSON",
        "field": "metadata",
    }
