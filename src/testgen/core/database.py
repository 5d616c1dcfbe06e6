"""Async engine and session factory, with SQLite tuned for several writing processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext import asyncio as sa_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from testgen.core import json_codec

SQLITE_BUSY_TIMEOUT_MS = 30_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _create_async_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Looked up on the module at each call, so that the OpenTelemetry SQLAlchemy instrumentation
    (core/tracing.py), which wraps it there, traces every engine built after tracing starts."""
    return sa_asyncio.create_async_engine(url, json_serializer=json_codec.dumps, **kwargs)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Build the engine. On SQLite: WAL, a busy timeout, foreign keys, and `BEGIN IMMEDIATE`.

    `BEGIN IMMEDIATE` takes the write lock when a transaction starts, so a transaction that reads
    and then writes waits for another process's writer (up to the busy timeout) instead of failing
    with "database is locked" when it tries to upgrade its lock. Read-only work uses
    `read_only(engine)`, whose plain `BEGIN` takes no lock (WAL readers never block writers).
    """
    if not is_sqlite(url):
        return _create_async_engine(url, pool_recycle=1800, **kwargs)

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    # One connection per process: SQLite has one writer anyway, and writers of the same process then
    # queue in the pool (an asyncio wait) instead of in SQLite's busy handler, which sleeps in
    # growing steps and wastes most of the time under load. Processes still use the busy timeout.
    kwargs.setdefault("pool_size", 1)
    kwargs.setdefault("max_overflow", 0)
    engine = _create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        if mode is not None:
            connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


READ_ONLY: dict[str, Any] = {"sqlite_begin": "DEFERRED"}
# One statement needs no transaction of its own: SQLite reads it from one snapshot anyway.
SINGLE_READ: dict[str, Any] = {"sqlite_begin": None}


def _standalone_options(dialect: str) -> dict[str, Any]:
    return SINGLE_READ if dialect == "sqlite" else {"isolation_level": "AUTOCOMMIT"}


def standalone(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for statements that need no transaction around them: reads whose each
    statement may see its own snapshot, and a lone write (a statement is atomic on its own). No BEGIN
    and no COMMIT or ROLLBACK: two round trips fewer per use on PostgreSQL."""
    return engine.execution_options(**_standalone_options(engine.dialect.name))


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, with transactions that never take SQLite's write lock."""
    return engine.execution_options(**READ_ONLY)


async def begin_read(session: AsyncSession) -> None:
    """Start the session's next transaction as a read that takes no write lock (on SQLite).

    The option lasts until that transaction ends. A no-op if the session is in a transaction already.
    """
    if not session.in_transaction():
        await session.connection(execution_options=READ_ONLY)


async def begin_standalone(session: AsyncSession) -> None:
    """Start the session's next transaction as `standalone` statements (for one lone read: on SQLite
    three trips fewer to aiosqlite's thread, on PostgreSQL two round trips). The option lasts until
    that transaction ends (PostgreSQL's isolation level is reset when the connection returns to the
    pool). A no-op if the session is in a transaction already."""
    if not session.in_transaction():
        options = _standalone_options(session.get_bind().dialect.name)
        await session.connection(execution_options=options)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
