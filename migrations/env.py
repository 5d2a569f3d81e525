"""Alembic environment: the URL comes from settings unless the caller passes a connection or URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from service.config import settings
from service.db import build_engine, ensure_data_dir
from service.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    url = config.attributes.get("url") or settings.sqlalchemy_url
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    """Run the migrations in one transaction; on SQLite with foreign keys off while they run.

    SQLite alters a table by copying it to a new one and dropping the old (Alembic's batch mode). With foreign
    keys on, that drop deletes every row that references the table through ``ON DELETE CASCADE``: an analysis'
    frames, a track's analyses and annotations. SQLite ignores the pragma inside a transaction, so it is set
    before the transaction begins, and the foreign keys are checked before it commits.
    """
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        _foreign_keys(connection, on=False)
    try:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite:
                violations = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if violations:
                    raise RuntimeError(f"the migration left rows whose foreign keys point nowhere: {violations[:5]}")
    finally:
        if sqlite:
            _foreign_keys(connection, on=True)


def _foreign_keys(connection: Connection, *, on: bool) -> None:
    # On the driver's connection, outside any transaction SQLAlchemy would begin.
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.attributes.get("url") or settings.sqlalchemy_url
    if url == settings.sqlalchemy_url:
        ensure_data_dir(settings)
    engine = build_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
