"""Upgrade the database schema to the latest Alembic revision."""

from __future__ import annotations

from pathlib import Path


def migrate(url: str | None = None) -> None:
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    cfg = Config()
    cfg.set_main_option("script_location", str(root / "migrations"))
    if url:
        cfg.attributes["url"] = url
    command.upgrade(cfg, "head")
