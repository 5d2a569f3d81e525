"""A query parameter an API route does not take is refused, naming it: a misspelt filter is never ignored."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.app import Account


@pytest.mark.parametrize(
    ("path", "param", "takes"),
    [
        (
            "/v1/references",
            "colection",
            "collection, collection_name, favorite, limit, offset",
        ),
        ("/v1/users/me", "verbose", None),
        ("/v1/imports", "page", "limit, offset"),
    ],
)
def test_an_unknown_query_parameter_is_a_422_naming_it(
    client: TestClient, alice: Account, path: str, param: str, takes: str | None
) -> None:
    # when
    response = client.get(path, headers=alice.headers, params={param: "1"})
    # then
    assert response.status_code == 422
    detail = f"{param}: unknown query parameter; " + (f"it takes {takes}" if takes else "it takes none")
    assert response.json() == {"error": "ValidationError", "detail": detail, "field": param}


def test_parameters_of_a_query_model_are_known(client: TestClient, alice: Account) -> None:
    # when: the library's filters come from one query model
    known = client.get("/v1/tracks", headers=alice.headers, params={"bpm_min": 120, "sort": "title", "limit": 5})
    misspelt = client.get("/v1/tracks", headers=alice.headers, params={"bpm_minimum": 120})
    # then
    assert known.status_code == 200, known.text
    assert misspelt.status_code == 422
    assert misspelt.json()["field"] == "bpm_minimum"
    assert misspelt.json()["detail"].startswith("bpm_minimum: unknown query parameter; it takes ")
    assert "bpm_min" in misspelt.json()["detail"]


def test_the_check_applies_to_writes_too(client: TestClient, alice: Account) -> None:
    # when
    response = client.post("/v1/auth/tokens", headers=alice.headers, params={"ttl": "7"}, json={})
    # then
    assert response.status_code == 422
    assert response.json()["field"] == "ttl"


def test_pages_outside_the_api_are_not_checked(client: TestClient) -> None:
    # when
    response = client.get("/docs", params={"anything": "1"})
    # then
    assert response.status_code == 200
