"""Fixtures shared by the worker tests."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest
from sqlalchemy.orm import Session

from service.db import session_scope


@pytest.fixture
def scope(session_factory: Callable[[], Session]) -> Callable[[], AbstractContextManager[Session]]:
    """Transactions the way a worker opens them (``session_scope``), on the test's database."""
    return lambda: session_scope(session_factory)
