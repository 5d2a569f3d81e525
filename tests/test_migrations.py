"""Migrations up and down on SQLite and PostgreSQL, each on a fresh database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from service.db import build_engine
from tests.fixtures.database import create_postgres_database, drop_postgres_database, skip_without_postgres

ROOT = Path(__file__).resolve().parent.parent
TABLES = {
    "users",
    "sessions",
    "login_tickets",
    "reference_tracks",
    "track_analyses",
    "analysis_frame_manifests",
    "analysis_frame_data",
    "analysis_events",
    "track_annotations",
    "track_regions",
    "listening_prompt_templates",
    "listening_prompt_presets",
    "user_references",
    "audit_log",
    "outbox",
    "imports",
    "import_tracks",
}
USER_OWNED = TABLES - {"users", "listening_prompt_templates", "audit_log", "outbox"}


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    skip_without_postgres()
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)


def test_upgrade_creates_schema_and_seeds_prompts(fresh_url: str) -> None:
    # when
    command.upgrade(alembic_config(fresh_url), "head")
    # then
    engine = build_engine(fresh_url)
    inspector = inspect(engine)
    assert set(inspector.get_table_names()) == TABLES | {"alembic_version"}
    for table in USER_OWNED:
        columns = {c["name"] for c in inspector.get_columns(table)}
        assert "user_id" in columns, table
        fks = inspector.get_foreign_keys(table)
        indexed = {next(iter(ix["column_names"])) for ix in inspector.get_indexes(table)}
        for fk in fks:
            assert fk["constrained_columns"][0] in indexed, (table, fk["constrained_columns"])
    with engine.connect() as conn:
        templates = conn.execute(text("SELECT count(*), count(DISTINCT category) FROM listening_prompt_templates"))
        assert tuple(templates.one()) == (24, 8)
        head = ScriptDirectory.from_config(alembic_config(fresh_url)).get_current_head()
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == head
    engine.dispose()


def test_downgrade_to_base_removes_everything_and_upgrade_again_works(fresh_url: str) -> None:
    # given
    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, "head")
    # when
    command.downgrade(cfg, "base")
    # then
    engine = build_engine(fresh_url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    command.upgrade(cfg, "head")
    engine = build_engine(fresh_url)
    assert set(inspect(engine).get_table_names()) == TABLES | {"alembic_version"}
    engine.dispose()


_NAMES = ("user", "track", "analysis", "manifest", "chunk", "event", "annotation", "region")
_USER = (
    "INSERT INTO users (id, email, role, is_active, created_at, updated_at) "
    "VALUES (:user, 'a@b.c', 'user', true, :now, :now)"
)
_ANALYSIS = (
    "INSERT INTO track_analyses (id, track_id, user_id, analysis_type, status, parameters, attempts, "
    "created_at) VALUES (:analysis, :track, :user, 'full', 'queued', '{}', 0, :now)"
)


def _track(*key_columns: str) -> str:
    """A track with its storage key columns (named as at the database's revision), each set to its own name."""
    columns = ", ".join(key_columns)
    values = ", ".join(f"'{c}'" for c in key_columns)
    return (
        f"INSERT INTO reference_tracks (id, user_id, title, {columns}, size_bytes, content_sha256, metadata, "
        "is_reference, is_user_upload, created_at, updated_at) "
        f"VALUES (:track, :user, 't', {values}, 1, 'h', '{{}}', true, false, :now, :now)"
    )


def _params(engine: Engine) -> dict[str, str]:
    # SQLite stores a Uuid column as 32 hex digits.
    ids = {name: f"00000000-0000-0000-0000-00000000000{i}" for i, name in enumerate(_NAMES, start=1)}
    return {k: v if engine.dialect.name == "postgresql" else v.replace("-", "") for k, v in ids.items()}


def _world(*key_columns: str) -> list[str]:
    """A user with a track, an analysis, frames, events, an annotation and a region."""
    return [
        _USER,
        _track(*key_columns),
        _ANALYSIS,
        (
            "INSERT INTO analysis_frame_manifests (id, analysis_id, user_id, feature, frame_rate, hop_seconds, "
            "n_frames, dimensions, dtype, encoding, chunk_frames, n_chunks, created_at) "
            "VALUES (:manifest, :analysis, :user, 'rms', 43.0, 0.023, 1, 1, 'float16', 'float16-le', 2048, 1, :now)"
        ),
        (
            "INSERT INTO analysis_frame_data (id, manifest_id, user_id, chunk_index, start_frame, n_frames, data) "
            "VALUES (:chunk, :manifest, :user, 0, 0, 1, :blob)"
        ),
        (
            "INSERT INTO analysis_events (id, analysis_id, track_id, user_id, event_type, time_seconds) "
            "VALUES (:event, :analysis, :track, :user, 'beat', 0.5)"
        ),
        (
            "INSERT INTO track_annotations (id, track_id, user_id, start_time_seconds, annotation_type, tags, "
            "created_at, updated_at) VALUES (:annotation, :track, :user, 1.0, 'note', '[]', :now, :now)"
        ),
        (
            "INSERT INTO track_regions (id, track_id, user_id, name, start_time_seconds, end_time_seconds, "
            "region_type, is_favorite, sort_order, created_at, updated_at) "
            "VALUES (:region, :track, :user, 'r', 0.0, 1.0, 'loop', false, 0, :now, :now)"
        ),
    ]


# The tables _world writes one row each to, in its order.
_WORLD_TABLES = tuple(statement.split()[2] for statement in _world("storage_key"))


def test_cascades_remove_dependents_of_a_deleted_track(fresh_url: str) -> None:
    # given: a user with a track, an analysis, frames, events, an annotation and a region
    command.upgrade(alembic_config(fresh_url), "head")
    engine = build_engine(fresh_url)
    now = "2026-01-01 00:00:00+00:00"
    statements = _world("storage_key")
    params = _params(engine)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), {**params, "now": now, "blob": b"\x00\x00"})
    # when
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM reference_tracks WHERE id = :track"), params)
    # then
    with engine.connect() as conn:
        for table in _WORLD_TABLES[2:]:  # all but the user and the track
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 1
    engine.dispose()


def test_renaming_the_storage_key_columns_keeps_tracks_and_their_analyses(fresh_url: str) -> None:
    # given: a track with an analysis, before the rename
    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, "0009")
    engine = build_engine(fresh_url)
    with engine.begin() as conn:
        for statement in (_USER, _track(*_R2_KEYS), _ANALYSIS):
            conn.execute(text(statement), _params(engine) | {"now": "2026-01-01 00:00:00+00:00"})
    engine.dispose()
    # when
    command.upgrade(cfg, "0010")
    # then: the values written under the old names, under the new ones; the analysis is still there
    assert _keys_and_analyses(fresh_url, _STORAGE_KEYS) == (*_R2_KEYS, 1)
    # when
    command.downgrade(cfg, "0009")
    # then
    assert _keys_and_analyses(fresh_url, _R2_KEYS) == (*_R2_KEYS, 1)


_R2_KEYS = ("r2_key", "waveform_r2_key", "thumbnail_r2_key")
_STORAGE_KEYS = ("storage_key", "waveform_storage_key", "thumbnail_storage_key")


def _keys_and_analyses(url: str, names: tuple[str, ...]) -> tuple[object, ...]:
    """The track's storage keys under ``names`` (which must be all of its key columns), and the analyses."""
    engine = build_engine(url)
    columns = {c["name"] for c in inspect(engine).get_columns("reference_tracks")}
    assert columns & {*_R2_KEYS, *_STORAGE_KEYS} == set(names)
    with engine.connect() as conn:
        keys = tuple(conn.execute(text(f"SELECT {', '.join(names)} FROM reference_tracks")).one())
        analyses = conn.execute(text("SELECT count(*) FROM track_analyses")).scalar_one()
    engine.dispose()
    return (*keys, analyses)


# The last revision of a release: databases in use are at it, and every later revision must keep their rows.
RELEASED = "0007"


def _counts(url: str) -> dict[str, int]:
    engine = build_engine(url)
    with engine.connect() as conn:
        counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() for table in _WORLD_TABLES}
    engine.dispose()
    return counts


def test_upgrading_a_database_in_use_keeps_every_row(fresh_url: str) -> None:
    # given: a database at the released revision holding a track with everything that hangs off it
    cfg = alembic_config(fresh_url)
    command.upgrade(cfg, RELEASED)
    engine = build_engine(fresh_url)
    params = _params(engine) | {"now": "2026-01-01 00:00:00+00:00", "blob": b"\x00\x00"}
    with engine.begin() as conn:
        for statement in _world(*_R2_KEYS):
            conn.execute(text(statement), params)
    engine.dispose()
    everything = dict.fromkeys(_WORLD_TABLES, 1)
    assert _counts(fresh_url) == everything
    # when: upgraded (on SQLite every table rebuild drops the old table, which cascades unless foreign keys are off)
    command.upgrade(cfg, "head")
    # then
    assert _counts(fresh_url) == everything
    # when
    command.downgrade(cfg, RELEASED)
    # then
    assert _counts(fresh_url) == everything
