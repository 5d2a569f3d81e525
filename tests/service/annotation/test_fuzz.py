"""Schema-driven fuzzing of the annotation and region endpoints against a real track, annotation and region.

The API-wide fuzz test mostly reaches 404s here, since a generated track id belongs to nobody. These requests
name Alice's own track (with an analysed beat grid, so snapping runs) and her annotation and region, so the
generated bodies, query parameters and files reach validation, snapping and the importers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation.case import Case
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from service.app import create_app, wrap
from service.storage import LocalStorage
from tests.fixtures.app import Account, build_app
from tests.service.annotation.conftest import Track, finish_analysis, post

# These check answers, not speed: a loaded CI machine can take longer than the 10 s default for one request.
REQUEST_TIMEOUT_S = 120

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class _CurrentApp:
    def __init__(self) -> None:
        self.target: ASGIApp = create_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.target(scope, receive, send)


_app = _CurrentApp()
schema = schemathesis.openapi.from_asgi("/openapi.json", _app).include(path_regex=r"/(annotations|regions)")


@pytest.fixture
def ids(
    client: TestClient,
    alice: Account,
    track: Track,
    session: Session,
    session_factory: Callable[[], Session],
    local_storage: LocalStorage,
) -> Iterator[dict[str, str]]:
    """Alice's track (beats every half second), one annotation and one region, with the fuzzed app wired."""
    finish_analysis(
        session,
        track,
        [{"event_type": "beat", "time_seconds": 0.5 * k} for k in range(21)]
        + [{"event_type": "downbeat", "time_seconds": 2.0 * k} for k in range(6)],
    )
    _, annotation = post(client, alice, f"{track.url}/annotations", {"start_time_seconds": 1.0})
    _, region = post(
        client, alice, f"{track.url}/regions", {"name": "Loop", "start_time_seconds": 1.0, "end_time_seconds": 3.0}
    )
    app = build_app(session_factory, local_storage)
    previous, _app.target = _app.target, wrap(app, max_bytes=1 << 20)
    yield {"track_id": track.id, "annotation_id": annotation["id"], "region_id": region["id"]}
    _app.target = previous


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
def test_no_input_breaks_the_endpoints_on_a_real_track(case: Case, alice: Account, ids: dict[str, str]) -> None:
    # given: the ids of Alice's own track and items in the path
    for name, value in ids.items():
        if name in (case.path_parameters or {}):
            case.path_parameters[name] = value  # type: ignore[index]
    # when / then
    case.call_and_validate(headers=alice.headers, checks=CHECKS, timeout=REQUEST_TIMEOUT_S)
