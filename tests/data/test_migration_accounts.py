"""Migration 0007_accounts on an install at 0006_language that holds projects, stories, jobs and test
cases: up to head in place keeping every row (the new columns take their defaults), no drift between
the models and the migrations (`alembic check`), and down to 0006 and up again. On SQLite, and on
PostgreSQL too when TEST_DATABASE_URL names one (its schema is wiped first)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, text

from testgen.core.database import create_engine
from tests.data.test_migration_jira import ROWS
from tests.support.harness import alembic_config

MORE_ROWS = [
    "INSERT INTO projects (name, description, created_at) VALUES ('q', 'second', '2026-01-02')",
    "INSERT INTO user_stories (id, project_id, title, description, acceptance_criteria, priority, created_at,"
    " updated_at, revision) VALUES ('S-2', 2, 'u', '', '[\"a\"]', 'high', '2026-01-02', '2026-01-02', 2)",
    "INSERT INTO generation_jobs (id, story_id, kind, options, status, progress, message, attempts,"
    " created_at) VALUES ('j2', 'S-2', 'generate', '{}', 'completed', 100, 'done', 1, '2026-01-02')",
    "INSERT INTO test_cases (story_id, title, description, preconditions, priority, test_type, scenarios,"
    " covered_criteria, created_at, updated_at) VALUES ('S-2', 'u', '', '[]', 'high', 'negative', '[]',"
    " '[0]', '2026-01-02', '2026-01-02')",
    "INSERT INTO story_revisions (story_id, revision, acceptance_criteria, created_at)"
    " VALUES ('S-2', 1, '[]', '2026-01-02')",
    "INSERT INTO llm_usage (project_id, task_id, day, provider, model, calls, prompt_tokens, output_tokens,"
    " total_tokens, created_at) VALUES (2, 'j2', '2026-01-02', 'offline', 'm', 1, 1, 1, 2, '2026-01-02')",
]
KEPT_TABLES = ("projects", "user_stories", "generation_jobs", "test_cases", "story_revisions", "llm_usage")
ACCOUNT_TABLES = {"users", "api_tokens", "project_members", "review_steps", "audit_events"}
NEW_COLUMNS = {
    "projects": {"review_required", "allow_self_approval"},
    "generation_jobs": {"created_by", "review_state"},
    "test_cases": {"approved_by", "approved_at"},
}


async def _run(url: str, statements: Sequence[str]) -> list[list[tuple[Any, ...]]]:
    """Each statement in one transaction; the rows of those that return some."""
    engine = create_engine(url)
    try:
        results = []
        async with engine.begin() as conn:
            for statement in statements:
                result = await conn.execute(text(statement))
                results.append([tuple(row) for row in result] if result.returns_rows else [])
        return results
    finally:
        await engine.dispose()


def run(url: str, *statements: str) -> list[list[tuple[Any, ...]]]:
    return asyncio.run(_run(url, statements))


def counts(url: str) -> list[int]:
    return [rows[0][0] for rows in run(url, *(f"SELECT count(*) FROM {t}" for t in KEPT_TABLES))]


def schema(url: str) -> tuple[set[str], dict[str, set[str]]]:
    """The tables, and the columns of the tables that 0007 adds to."""

    def read(conn: Any) -> tuple[set[str], dict[str, set[str]]]:
        found = inspect(conn)
        columns = {t: {c["name"] for c in found.get_columns(t)} for t in NEW_COLUMNS}
        return set(found.get_table_names()), columns

    async def go() -> tuple[set[str], dict[str, set[str]]]:
        engine = create_engine(url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(go())


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or TEST_DATABASE_URL with its public schema wiped."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'install.db'}"
        return
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("TEST_DATABASE_URL names no PostgreSQL database")
    run(url, "DROP SCHEMA IF EXISTS public CASCADE", "CREATE SCHEMA public")
    yield url


@pytest.fixture
def install(database: str) -> Config:
    """An install at 0006_language with two projects, their stories, jobs, test cases, story revisions
    and model usage."""
    cfg = alembic_config(database)
    command.upgrade(cfg, "0006_language")
    run(database, *ROWS, *MORE_ROWS)
    assert counts(database) == [2, 2, 2, 2, 1, 1]
    return cfg


def test_upgrade_in_place_keeps_every_row_and_gives_the_defaults(install: Config, database: str) -> None:
    command.upgrade(install, "head")
    assert counts(database) == [2, 2, 2, 2, 1, 1]
    tables, columns = schema(database)
    assert tables >= ACCOUNT_TABLES
    for table, added in NEW_COLUMNS.items():
        assert added <= columns[table], table
    (projects, jobs, cases, stories) = run(
        database,
        "SELECT id, name, review_required, allow_self_approval FROM projects ORDER BY id",
        "SELECT id, status, created_by, review_state FROM generation_jobs ORDER BY id",
        "SELECT story_id, approved_by, approved_at FROM test_cases ORDER BY id",
        "SELECT id, project_id, revision FROM user_stories ORDER BY id",
    )
    assert [(p[0], p[1], bool(p[2]), bool(p[3])) for p in projects] == [
        (1, "p", False, False),
        (2, "q", False, False),
    ]
    assert jobs == [("j1", "queued", None, None), ("j2", "completed", None, None)]
    assert cases == [("S-1", None, None), ("S-2", None, None)]
    assert stories == [("S-1", 1, 1), ("S-2", 2, 2)]
    assert run(database, "SELECT count(*) FROM users", "SELECT count(*) FROM project_members") == [
        [(0,)],
        [(0,)],
    ]


def test_no_drift_between_the_models_and_the_migrations(install: Config) -> None:
    command.upgrade(install, "head")
    command.check(install)  # raises AutogenerateDiffsDetected, naming each difference


def test_down_to_0006_and_up_again_keeps_every_row(install: Config, database: str) -> None:
    command.upgrade(install, "head")
    run(
        database,
        "INSERT INTO users (email, name, is_admin, active, created_at, updated_at)"
        " VALUES ('ada@example.com', 'Ada', true, true, '2026-01-03', '2026-01-03')",
        "INSERT INTO project_members (project_id, user_id, role, created_at)"
        " VALUES (1, 1, 'admin', '2026-01-03')",
        "UPDATE projects SET review_required = true WHERE id = 2",
        "UPDATE generation_jobs SET created_by = 1, review_state = 'approved' WHERE id = 'j2'",
    )
    command.downgrade(install, "0006_language")
    assert counts(database) == [2, 2, 2, 2, 1, 1]
    tables, columns = schema(database)
    assert not ACCOUNT_TABLES & tables
    for table, added in NEW_COLUMNS.items():
        assert not added & columns[table], table
    assert run(database, "SELECT id, project_id FROM user_stories ORDER BY id") == [[("S-1", 1), ("S-2", 2)]]

    command.upgrade(install, "head")
    assert counts(database) == [2, 2, 2, 2, 1, 1]
    users, review = run(database, "SELECT count(*) FROM users", "SELECT review_required FROM projects")
    assert users == [(0,)] and [bool(flag) for (flag,) in review] == [False, False]
    command.check(install)
