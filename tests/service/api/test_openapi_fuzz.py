"""Schema-driven fuzzing of the whole API: no input may cause a 5xx or a response the OpenAPI spec does not describe.

Schemathesis generates requests from the app's own OpenAPI document (valid and invalid parameters, bodies and
ids) and checks every response against it: status code documented, content type declared, JSON body valid
against the response model. Requests carry a real bearer token, so they reach the handlers and the database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import schemathesis
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

# These check answers, not speed: a loaded CI machine can take longer than the 10 s default for one request.
REQUEST_TIMEOUT_S = 120

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class _CurrentApp:
    """The ASGI app schemathesis calls: the OpenAPI document at import, the test's wired app during a test."""

    def __init__(self) -> None:
        self.target: ASGIApp = create_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.target(scope, receive, send)


_app = _CurrentApp()
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@pytest.fixture(autouse=True)
def wired_app(session_factory: Callable[[], Session], local_storage: LocalStorage) -> Iterator[None]:
    app = build_app(session_factory, local_storage)
    previous, _app.target = _app.target, wrap(app, max_bytes=1 << 20)
    yield
    _app.target = previous


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
def test_no_input_breaks_the_api_or_its_schema(case: Case, alice: Account) -> None:
    # given: a signed-in user (the admin-only routes answer 403, which they document)
    # when / then
    case.call_and_validate(headers=alice.headers, checks=CHECKS, timeout=REQUEST_TIMEOUT_S)
