from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, inspect, select, text

from testgen.core.database import begin_standalone, create_engine, create_sessionmaker, is_sqlite, read_only
from testgen.data.models import GenerationJob, Project, UserStory
from tests.support.harness import alembic_config


async def test_two_engines_write_concurrently_without_locking_errors(database_url: str) -> None:
    """Two engines stand in for the API and a worker process writing at the same time."""
    api_engine, worker_engine = create_engine(database_url), create_engine(database_url)
    try:
        async with create_sessionmaker(api_engine)() as s:
            s.add(Project(name="P"))
            s.add(UserStory(id="US-1", title="t", acceptance_criteria=["a"]))
            await s.commit()

        async def api_writes(n: int) -> None:
            maker = create_sessionmaker(api_engine)
            for i in range(n):
                async with maker() as s:
                    story = await s.get(UserStory, "US-1")
                    assert story is not None
                    story.description = f"api {i}"
                    s.add(UserStory(id=f"API-{i}", title="t", acceptance_criteria=[]))
                    await s.commit()

        async def worker_writes(n: int) -> None:
            maker = create_sessionmaker(worker_engine)
            for i in range(n):
                async with maker() as s:
                    await s.execute(select(func.count()).select_from(UserStory))
                    s.add(GenerationJob(id=f"job-{i}", story_id="US-1", status="completed", result={"i": i}))
                    await s.commit()

        await asyncio.gather(*(api_writes(40) for _ in range(1)), worker_writes(40), worker_writes(0))
        async with create_sessionmaker(worker_engine)() as s:
            stories = await s.scalar(select(func.count()).select_from(UserStory))
            jobs = await s.scalar(select(func.count()).select_from(GenerationJob))
        assert (stories, jobs) == (41, 40)
        if is_sqlite(database_url):
            async with api_engine.connect() as conn:
                assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
                assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 30000
    finally:
        await api_engine.dispose()
        await worker_engine.dispose()


async def test_deleting_a_story_cascades_to_its_jobs(database_url: str) -> None:
    engine = create_engine(database_url)
    maker = create_sessionmaker(engine)
    async with maker() as s:
        s.add(UserStory(id="US-1", title="t"))
        await s.flush()
        s.add(GenerationJob(id="j1", story_id="US-1"))
        await s.commit()
    async with maker() as s:
        await s.delete(await s.get(UserStory, "US-1"))
        await s.commit()
    async with maker() as s:
        assert await s.get(GenerationJob, "j1") is None
    await engine.dispose()


async def test_one_active_generate_job_per_story(database_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    engine = create_engine(database_url)
    maker = create_sessionmaker(engine)
    async with maker() as s:
        s.add(UserStory(id="US-1", title="t"))
        await s.flush()
        s.add(GenerationJob(id="a", story_id="US-1", status="generating"))
        s.add(GenerationJob(id="b", story_id="US-1", status="completed"))
        await s.commit()
    async with maker() as s:
        s.add(GenerationJob(id="c", story_id="US-1", status="queued"))
        with pytest.raises(IntegrityError):
            await s.commit()
    await engine.dispose()


def test_downgrade_base_removes_everything(database_url: str, tmp_path: Path) -> None:
    async def tables() -> set[str]:
        engine = create_engine(database_url)
        async with engine.connect() as conn:
            names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
        await engine.dispose()
        return names - {"alembic_version"}

    assert asyncio.run(tables()) == {
        "projects",
        "user_stories",
        "test_cases",
        "generation_jobs",
        "story_revisions",
        "llm_usage",
        "users",
        "api_tokens",
        "project_members",
        "review_steps",
        "audit_events",
        "connections",
        "pushed_cases",
        "story_attachments",
    }
    command.downgrade(alembic_config(database_url), "base")
    assert asyncio.run(tables()) == set()
    command.upgrade(alembic_config(database_url), "head")
    assert len(asyncio.run(tables())) == 14


async def test_a_single_read_runs_outside_a_transaction(database_url: str) -> None:
    """The 404 lookups of the API read one row: no BEGIN on SQLite, autocommit on PostgreSQL (one
    round trip instead of three). The session's next transaction is a plain one again."""
    engine = create_engine(database_url)
    try:
        async with create_sessionmaker(read_only(engine))() as session:
            await begin_standalone(session)
            assert await session.get(Project, 1) is None
            assert not _in_transaction((await session.connection()).sync_connection)
            await session.commit()
            await session.execute(text("SELECT 1"))
            assert _in_transaction((await session.connection()).sync_connection)
            await session.commit()
    finally:
        await engine.dispose()


def _in_transaction(connection: Any) -> bool:
    """Whether the database itself has a transaction open on this connection (not SQLAlchemy's view)."""
    driver = connection.connection.driver_connection
    return bool(driver.in_transaction if hasattr(driver, "in_transaction") else driver.is_in_transaction())
