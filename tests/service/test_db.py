"""The transaction boundary: hooks that run only after a commit or only after a rollback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from service.db import after_commit, after_rollback, build_engine, session_scope
from service.user.models import User


def test_commit_runs_commit_hooks_only(session_factory: Callable[[], Session], session: Session) -> None:
    # given
    calls: list[str] = []
    # when
    with session_scope(session_factory) as s:
        s.add(User(email="hooks@example.com"))
        after_commit(s, lambda: calls.append("commit"))
        after_rollback(s, lambda: calls.append("rollback"))
    # then
    assert calls == ["commit"]
    assert session.scalar(select(func.count()).select_from(User)) == 1


def test_rollback_runs_rollback_hooks_only(session_factory: Callable[[], Session], session: Session) -> None:
    # given
    calls: list[str] = []

    def failing_unit_of_work() -> None:
        with session_scope(session_factory) as s:
            s.add(User(email="hooks@example.com"))
            after_commit(s, lambda: calls.append("commit"))
            after_rollback(s, lambda: calls.append("rollback"))
            raise RuntimeError("boom")

    # when
    with pytest.raises(RuntimeError, match="boom"):
        failing_unit_of_work()
    # then
    assert calls == ["rollback"]
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_a_failing_hook_does_not_hide_the_commit(session_factory: Callable[[], Session], session: Session) -> None:
    # given
    calls: list[str] = []

    def broken() -> None:
        raise ValueError("hook failed")

    # when
    with session_scope(session_factory) as s:
        s.add(User(email="hooks@example.com"))
        after_commit(s, broken)
        after_commit(s, lambda: calls.append("second"))
    # then
    assert calls == ["second"]
    assert session.scalar(select(func.count()).select_from(User)) == 1


def test_sqlite_lower_folds_non_ascii_letters(tmp_path: Path) -> None:
    # given
    engine = build_engine(f"sqlite:///{tmp_path / 'fold.db'}")
    # when
    with engine.connect() as conn:
        folded = conn.execute(text("SELECT lower('ÓLAFUR ARNALDS'), lower(NULL), lower(42)")).one()
    # then
    assert tuple(folded) == ("ólafur arnalds", None, 42)
