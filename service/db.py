"""Engine, sessions and the single transaction boundary.

``session_scope()`` (workers, CLI) and ``get_session`` (API) commit on success and roll back on any
exception. Services only ``flush()``. Work that must happen only once the transaction is durable (sending a
Celery task) or only if it is abandoned (deleting an object already written to storage) is registered on
the session with :func:`after_commit` / :func:`after_rollback`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar

from fastapi import Depends
from sqlalchemy import JSON, Column, DateTime, MetaData, Table, create_engine, event, insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from service.config import Settings, settings

log = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: DateTime(timezone=True)}


class IdMixin:
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


class CreatedMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow, nullable=False)


class TimestampMixin(CreatedMixin):
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, nullable=False)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; SQLAlchemy emits BEGIN itself (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL lets the API read while the embedded worker writes; busy_timeout waits out short write locks.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
    # SQLite's lower() folds ASCII only; Python's folds every script, as PostgreSQL's does ("Ólafur" ~ "ólafur").
    dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def _unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


# Set per request (GET and HEAD) by the app: their transactions only read.
_read_only: ContextVar[bool] = ContextVar("reftrack_read_only", default=False)


def mark_read_only(value: bool) -> Token[bool]:
    """Declare whether transactions begun in this context only read (reset with ``reset_read_only``)."""
    return _read_only.set(value)


def reset_read_only(token: Token[bool]) -> None:
    _read_only.reset(token)


def _sqlite_begin(connection: Any) -> None:
    # IMMEDIATE takes the write lock up front: a deferred transaction that later writes can fail with
    # SQLITE_BUSY without waiting when the API and the embedded worker write at the same time. Reads need no
    # lock: in WAL mode they see a snapshot and run side by side with each other and with the writer.
    connection.exec_driver_sql("BEGIN" if _read_only.get() else "BEGIN IMMEDIATE")


def build_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def ensure_data_dir(cfg: Settings) -> None:
    if cfg.is_sqlite:
        cfg.resolved_data_dir.mkdir(parents=True, exist_ok=True)


def bulk_insert(session: Session, model: type[Base], rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows of one table in the session's transaction, as fast as the backend allows.

    PostgreSQL gets a binary ``COPY ... FROM STDIN``, SQLite one ``executemany`` of values converted by the
    columns' own types, anything else a Core INSERT. Not the ORM's bulk insert: it sends one statement per run of
    rows whose NULL columns differ (~190 statements for one analysis' events) and builds each row's parameters
    in Python, which cost more than the write itself. Every row must have the same keys; Python-side column
    defaults (ids, timestamps) fill the columns the rows leave out. No ORM events run and the identity map is
    untouched.
    """
    if not rows:
        return
    table = model.__table__
    assert isinstance(table, Table)
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name not in ("postgresql", "sqlite"):
        session.execute(insert(table), list(rows))
        return
    keys = list(rows[0])
    defaults = [c for c in table.columns if c.name not in keys and c.default is not None and c.server_default is None]
    columns = [table.c[k] for k in keys] + defaults

    def values() -> Iterator[list[Any]]:
        for row in rows:
            if len(row) != len(keys):
                raise ValueError(f"bulk_insert: every row needs exactly the keys {keys}")
            yield [row[k] for k in keys] + [_default_value(c) for c in defaults]

    quote = dialect.identifier_preparer.quote
    target = f"{dialect.identifier_preparer.format_table(table)} ({', '.join(quote(c.name) for c in columns)})"
    if dialect.name == "sqlite":
        processors = [
            (i, process)
            for i, c in enumerate(columns)
            if (process := c.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        ]
        converted = []
        for value in values():
            for i, process in processors:
                value[i] = process(value[i])
            converted.append(tuple(value))
        connection.exec_driver_sql(f"INSERT INTO {target} VALUES ({', '.join('?' * len(columns))})", converted)
        return
    oids = _column_type_oids(connection, table.name)
    json_at = [(i, bool(c.type.none_as_null)) for i, c in enumerate(columns) if isinstance(c.type, JSON)]
    psycopg_connection = connection.connection.driver_connection
    assert psycopg_connection is not None
    with psycopg_connection.cursor() as cursor, cursor.copy(f"COPY {target} FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([oids[c.name] for c in columns])
        for value in values():
            for i, none_as_null in json_at:
                value[i] = _copy_json(value[i], none_as_null=none_as_null)
            copy.write_row(value)


_TYPE_OIDS: dict[str, dict[str, int]] = {}


def _column_type_oids(connection: Connection, table: str) -> dict[str, int]:
    """The PostgreSQL type of each column of ``table``, which binary COPY must name (asked once per process)."""
    if table not in _TYPE_OIDS:
        rows = connection.exec_driver_sql(
            "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %(table)s::regclass AND attnum > 0"
            " AND NOT attisdropped",
            {"table": table},
        )
        _TYPE_OIDS[table] = {str(name): int(oid) for name, oid in rows}
    return _TYPE_OIDS[table]


def _copy_json(value: Any, *, none_as_null: bool) -> Any:
    """A JSON value for COPY: SQL NULL or JSON null for ``None``, as the column type says."""
    from psycopg.types.json import Json

    return None if value is None and none_as_null else Json(value)


def _default_value(column: Column[Any]) -> Any:
    default: Any = column.default
    if default.is_scalar:
        return default.arg
    if default.is_callable:
        return default.arg(None)
    raise ValueError(f"bulk_insert cannot evaluate the default of {column.name}")


class Database:
    """Lazily built engine and session factory, so importing the app never touches the database."""

    def __init__(self, cfg: Settings) -> None:
        self._settings = cfg
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            ensure_data_dir(self._settings)
            self._engine = build_engine(
                self._settings.sqlalchemy_url,
                echo=self._settings.database_echo,
                pool_size=self._settings.database_pool_size,
            )
        return self._engine

    @property
    def capacity(self) -> int:
        """Connections the pool hands out at most (``pool_size`` plus as many overflow connections)."""
        return 2 * self._settings.database_pool_size

    def session(self) -> Session:
        if self._factory is None:
            self._factory = sessionmaker(bind=self.engine, expire_on_commit=False)
        return self._factory()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None
        self._factory = None


database = Database(settings)

_COMMIT_HOOKS = "reftrack.after_commit"
_ROLLBACK_HOOKS = "reftrack.after_rollback"


def after_commit(session: Session, hook: Callable[[], None]) -> None:
    """Run ``hook`` once the session's transaction has committed (dropped on rollback)."""
    session.info.setdefault(_COMMIT_HOOKS, []).append(hook)


def after_rollback(session: Session, hook: Callable[[], None]) -> None:
    """Run ``hook`` if the session's transaction is rolled back (dropped on commit)."""
    session.info.setdefault(_ROLLBACK_HOOKS, []).append(hook)


def _run_hooks(session: Session, key: str) -> None:
    hooks: list[Callable[[], None]] = session.info.pop(key, [])
    session.info.pop(_ROLLBACK_HOOKS if key == _COMMIT_HOOKS else _COMMIT_HOOKS, None)
    for hook in hooks:
        try:
            hook()
        except Exception:
            # The transaction outcome is final; a failing hook must not turn it into an error response.
            log.exception("db.hook.failed", extra={"hook": key})


def commit(session: Session) -> None:
    """Commit and run the after-commit hooks. The only place, with ``rollback``, that ends a transaction."""
    session.commit()
    _run_hooks(session, _COMMIT_HOOKS)


def rollback(session: Session) -> None:
    session.rollback()
    _run_hooks(session, _ROLLBACK_HOOKS)


@contextmanager
def session_scope(factory: Callable[[], Session] | None = None) -> Iterator[Session]:
    session = (factory or database.session)()
    try:
        yield session
        commit(session)
    except BaseException:
        rollback(session)
        raise
    finally:
        session.close()


SessionScope = Callable[[], AbstractContextManager[Session]]
"""What flows that commit more than once take: ``session_scope`` itself, or a test's stand-in."""


def get_session() -> Iterator[Session]:
    with session_scope() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
