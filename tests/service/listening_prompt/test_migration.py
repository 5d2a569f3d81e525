"""Revision 0004 rewrites the seeded templates the prompt engine binds, keeps admins' edits, and reverts cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from service.db import build_engine
from tests.fixtures.database import create_postgres_database, drop_postgres_database, skip_without_postgres
from tests.service.listening_prompt.conftest import seeded_templates
from tests.test_migrations import alembic_config


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    skip_without_postgres()
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


def templates(url: str) -> dict[str, tuple[str, str]]:
    engine = build_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT key, placement_rule, prompt_text FROM listening_prompt_templates"))
        found = {key: (rule, prompt) for key, rule, prompt in rows}
    engine.dispose()
    return found


def test_upgrade_revises_the_seed_keeps_edits_and_downgrade_restores_it(fresh_url: str) -> None:
    # given: the seed, with one template an admin already reworded
    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, "0003")
    seed = templates(fresh_url)
    engine = build_engine(fresh_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE listening_prompt_templates SET prompt_text = 'Ours: {at}' WHERE key = 'vocal_presence'")
        )
    engine.dispose()
    # when
    command.upgrade(cfg, "0004")
    # then
    revised = templates(fresh_url)
    expected = {spec.key: (spec.placement_rule, spec.prompt_text) for spec in seeded_templates()}
    expected["vocal_presence"] = (seed["vocal_presence"][0], "Ours: {at}")
    assert revised == expected
    assert revised["groove_stability"][0] == "tempo_drift"
    # when
    command.downgrade(cfg, "0003")
    # then
    restored = templates(fresh_url)
    assert restored == {**seed, "vocal_presence": (seed["vocal_presence"][0], "Ours: {at}")}
