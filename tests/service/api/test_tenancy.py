"""Tenancy: every endpoint, called by a second user with the first user's ids, answers 404 (403 for admin routes).

The operations come from the app's own OpenAPI document, so an endpoint added later is covered without editing
this file: each path parameter and each ``*_id`` field of a JSON body is filled with one of Alice's real ids
(track, analysis, annotation, region, preset, reference), and the body is the smallest valid instance of the
request schema, so the request reaches the ownership check instead of failing validation first. Likewise every
parameter or body field that takes a path, URL or bucket is pointed at the service's own storage, where Alice's
originals are, and must be refused without anything being read or recorded.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.app import wrap
from service.config import settings
from service.db import session_scope
from service.library_import.models import LibraryImport
from service.storage import LocalStorage
from service.track.models import Track
from service.user.service import user as user_service
from tests.fixtures.analysed import AnalysedTrack
from tests.fixtures.app import Account, build_app
from tests.service.api.support import operations as api_operations

_PARAM = re.compile(r"{([^}]+)}")
# Which of Alice's objects a parameter or body field refers to, by its name or the path segment before it.
# Path parameters that are not ids.
_PLAIN_PARAMS = {"feature": "rms"}
_KINDS = ("annotation", "region", "preset", "reference", "template", "analysis", "import", "user", "track")


@pytest.fixture
def alice_world(
    client: TestClient, analysed_track: AnalysedTrack, session_factory: Callable[[], Session]
) -> dict[str, str]:
    """One of every user-owned object, created through the API as Alice."""
    headers = analysed_track.owner.headers
    track = analysed_track.track_id
    ids = {"track": track, "analysis": analysed_track.analysis_id, "user": str(analysed_track.owner.user.id)}
    created = {
        "annotation": client.post(
            f"/v1/tracks/{track}/annotations",
            headers=headers,
            json={"start_time_seconds": 1.0, "annotation_type": "note", "title": "kick"},
        ),
        "region": client.post(
            f"/v1/tracks/{track}/regions",
            headers=headers,
            json={"name": "loop", "start_time_seconds": 2.0, "end_time_seconds": 4.0, "region_type": "loop"},
        ),
        "preset": client.post("/v1/listening-prompts/presets", headers=headers, json={"name": "mine"}),
        "reference": client.post("/v1/references", headers=headers, json={"track_id": track}),
    }
    for kind, response in created.items():
        assert response.status_code in (200, 201), (kind, response.text)
        ids[kind] = response.json()["id"]
    # An import of a server folder needs configured roots; the row is what the tenancy check reads.
    with session_scope(session_factory) as s:
        record = LibraryImport(user_id=analysed_track.owner.user.id, source="/srv/music", origin="api")
        s.add(record)
        s.flush()
        ids["import"] = str(record.id)
    # Templates are global, not owned: any id works for the admin-only routes.
    templates = client.get("/v1/listening-prompts/templates", headers=headers).json()
    ids["template"] = (templates["data"] if isinstance(templates, dict) else templates)[0]["id"]
    return ids


def _kind(name: str, path: str, position: int) -> str | None:
    lowered = name.lower()
    for kind in _KINDS:
        if kind in lowered:
            return kind
    segments = [s for s in path[:position].split("/") if s and not s.startswith("{")]
    for segment in reversed(segments):
        for kind in _KINDS:
            if segment.rstrip("s").replace("-", "_").endswith(kind) or kind in segment:
                return kind
    return None


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _minimal(schema: dict[str, Any], components: dict[str, Any], ids: dict[str, str], name: str = "") -> Any:
    schema = _resolve(schema, components)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, components).get("type") != "null"] or schema[key]
            return _minimal(options[0], components, ids, name)
    if "allOf" in schema:
        return _minimal(schema["allOf"][0], components, ids, name)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    if schema.get("examples"):
        example = schema["examples"][0]
        if not (name.endswith("_id") and isinstance(example, str)):
            return example
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        required = schema.get("required", [])
        properties = schema.get("properties", {})
        return {key: _minimal(properties.get(key, {}), components, ids, key) for key in required}
    if kind == "array":
        if name.endswith("ids") or name == "order":
            return []
        return [_minimal(schema.get("items", {}), components, ids)] * schema.get("minItems", 0)
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return float(max(schema.get("minimum", 0.0), schema.get("exclusiveMinimum", -1.0) + 1.0, 0.5))
    if kind == "boolean":
        return False
    if kind == "string":
        if schema.get("format") == "uuid" or name.endswith("_id"):
            owner = _kind(name, "", 0) or "track"
            return ids.get(owner, str(uuid.uuid4()))
        return "x" * max(1, int(schema.get("minLength", 1)))
    return None


def _operations(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    """The operations of the document the running app serves."""
    return api_operations(client.get("/openapi.json").json())


def _url(path: str, ids: dict[str, str]) -> str:
    """``path`` with each parameter filled with one of Alice's ids (or a plain value)."""
    url = path
    for match in reversed(list(_PARAM.finditer(path))):
        name = match.group(1)
        value = _PLAIN_PARAMS.get(name) or ids[_kind(name, path, match.start()) or "track"]
        url = url[: match.start()] + value + url[match.end() :]
    return url


def _request(
    client: TestClient, method: str, path: str, operation: dict[str, Any], ids: dict[str, str], account: Account
) -> tuple[int, str]:
    components = client.get("/openapi.json").json().get("components", {}).get("schemas", {})
    url = _url(path, ids)
    kwargs: dict[str, Any] = {}
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        kwargs["json"] = _minimal(content["application/json"].get("schema", {}), components, ids)
    elif "multipart/form-data" in content:
        kwargs["files"] = {"file": ("x.txt", b"0\t1\tlabel\n")}
    elif content:
        kwargs["content"] = b"0\t1\tlabel\n"
    response = client.request(method, url, headers=account.headers, **kwargs)
    return response.status_code, f"{method} {url} -> {response.status_code} {response.text[:300]}"


def test_every_endpoint_hides_another_users_objects(
    client: TestClient, alice_world: dict[str, str], bob: Account
) -> None:
    # given: Alice owns one of everything; Bob is signed in
    operations = [op for op in _operations(client) if "{" in op[1] or "requestBody" in op[2]]
    checked, failures = 0, []
    for method, path, operation in operations:
        body_ids = "requestBody" in operation and "{" not in path
        admin = path.startswith("/v1/admin") or ("/templates" in path and method in ("POST", "PATCH", "PUT", "DELETE"))
        if "/templates" in path and not admin:
            continue  # the shared template library is readable by everyone
        if body_ids and not admin and not _mentions_foreign_id(operation, client):
            continue
        # when: Bob uses Alice's ids
        status, line = _request(client, method, path, operation, alice_world, bob)
        checked += 1
        # then: nothing of Alice's exists for him (admin routes refuse him outright)
        expected = {403} if admin else {404}
        if status not in expected:
            failures.append(line)
    assert checked >= 40, f"only {checked} operations with ids were found"
    assert not failures, "\n".join(failures)


def test_alices_own_requests_reach_her_objects(client: TestClient, alice_world: dict[str, str], alice: Account) -> None:
    # given: the same GET requests, made by Alice
    for method, path, operation in _operations(client):
        if method != "GET" or "{" not in path or path.startswith("/v1/admin"):
            continue
        # when
        status, line = _request(client, method, path, operation, alice_world, alice)
        # then: her ids resolve, so the 404s Bob gets above come from ownership, not from wrong ids
        assert status < 400, line


def test_admin_can_list_everyones_tracks_and_is_audited(
    client: TestClient, alice_world: dict[str, str], session_factory: Callable[[], Session]
) -> None:
    # given
    with session_scope(session_factory) as s:
        admin = user_service.create(s, email="root@example.com", role="admin")
        token = user_service.issue_token(s, user=admin).token
    # when
    response = client.get("/v1/admin/tracks", headers={"Authorization": f"Bearer {token}"})
    # then
    assert response.status_code == 200, response.text
    assert alice_world["track"] in {t["id"] for t in response.json()["data"]}


def _mentions_foreign_id(operation: dict[str, Any], client: TestClient) -> bool:
    content = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    ref = content.get("schema", {}).get("$ref", "")
    if not ref:
        return False
    components = client.get("/openapi.json").json()["components"]["schemas"]
    schema = components[ref.rsplit("/", 1)[-1]]
    return any(name.endswith("_id") for name in schema.get("required", []))


# A parameter or body field that names a place the server would read: a folder, a URL, a bucket or a key prefix.
_LOCATION = re.compile(r"(^|_)(source|path|url|uri|bucket|folder|dir|directory|location|prefix)s?($|_)")
_SERVICE_BUCKET = "reftrack-service"


def _location_inputs(client: TestClient) -> list[tuple[str, str, str, str]]:
    """``(method, path, "query"|"body", name)`` of every input of the API that takes a path, URL or bucket."""
    spec = client.get("/openapi.json").json()
    components = spec.get("components", {}).get("schemas", {})
    found = []
    for method, path, operation in _operations(client):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and _LOCATION.search(parameter["name"].lower()):
                found.append((method, path, "query", parameter["name"]))
        content = operation.get("requestBody", {}).get("content", {})
        for media in ("application/json", "multipart/form-data"):
            schema = _resolve(content.get(media, {}).get("schema", {}), components)
            for name, field in schema.get("properties", {}).items():
                text = f"{field.get('description', '')} {field.get('examples', '')}"
                if _LOCATION.search(name.lower()) or "s3://" in text or field.get("format") in ("uri", "path"):
                    found.append((method, path, "body", name))
    return found


def test_no_path_url_or_bucket_input_reads_the_service_storage(
    client: TestClient,
    alice_world: dict[str, str],
    bob: Account,
    session_factory: Callable[[], Session],
    session: Session,
    local_storage: LocalStorage,
) -> None:
    # given: the operator allowed imports from a folder that holds the storage, and from the service's bucket
    alice = alice_world["user"]
    cfg = settings.model_copy(
        update={
            "import_roots": [local_storage.root.parent],
            "import_s3_roots": [f"s3://{_SERVICE_BUCKET}/"],
            "s3_bucket": _SERVICE_BUCKET,
        }
    )
    app = build_app(session_factory, local_storage, cfg=cfg)
    hostile = [
        str(local_storage.root),
        str(local_storage.root / "tracks" / alice),
        f"{local_storage.root.parent}/x/../{local_storage.root.name}/tracks/{alice}",
        str(settings.resolved_data_dir),
        f"file://{local_storage.root}",
        f"s3://{_SERVICE_BUCKET}/",
        f"s3://{_SERVICE_BUCKET}/tracks/{alice}/",
        f"s3://{_SERVICE_BUCKET.upper()}/tracks/{alice}/",
    ]
    files_before = sorted(p for p in local_storage.root.rglob("*") if p.is_file())
    assert any(p.parts[-3] == alice for p in files_before)
    components = client.get("/openapi.json").json().get("components", {}).get("schemas", {})
    inputs = _location_inputs(client)
    # then: the detection finds at least the import source, so a new such input is found the same way
    assert ("POST", "/v1/imports", "body", "source") in inputs
    answered: dict[tuple[str, str, str, str], list[int]] = {}
    failures = []
    with TestClient(wrap(app, max_bytes=1 << 20)) as api:
        for method, path, where, name in inputs:
            operation = client.get("/openapi.json").json()["paths"][path][method.lower()]
            for value in hostile:
                # when: Bob points it at the storage
                status, line = _request_at(
                    api, method, path, operation, alice_world, bob, components, where, name, value
                )
                answered.setdefault((method, path, where, name), []).append(status)
                if status not in (403, 404, 422):
                    failures.append(line)
    # then: refused (the import source: forbidden, or malformed for the file: URL and the upper-case bucket)
    assert not failures, "\n".join(failures)
    assert answered[("POST", "/v1/imports", "body", "source")] == [403, 403, 403, 403, 422, 403, 403, 422]
    # then: nothing was recorded for Bob and nothing was written
    session.expire_all()
    assert session.scalar(select(func.count()).where(LibraryImport.user_id == bob.user.id)) == 0
    assert session.scalar(select(func.count()).where(Track.user_id == bob.user.id)) == 0
    assert sorted(p for p in local_storage.root.rglob("*") if p.is_file()) == files_before


def _request_at(
    api: TestClient,
    method: str,
    path: str,
    operation: dict[str, Any],
    ids: dict[str, str],
    account: Account,
    components: dict[str, Any],
    where: str,
    name: str,
    value: str,
) -> tuple[int, str]:
    url = _url(path, ids)
    kwargs: dict[str, Any] = {}
    if where == "query":
        kwargs["params"] = {name: value}
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        body = _minimal(content["application/json"].get("schema", {}), components, ids)
        if where == "body":
            body[name] = value
        kwargs["json"] = body
    elif "multipart/form-data" in content and where == "body":
        kwargs["data"] = {name: value}
    response = api.request(method, url, headers=account.headers, **kwargs)
    return (
        response.status_code,
        f"{method} {url} {where} {name}={value!r} -> {response.status_code} {response.text[:300]}",
    )
