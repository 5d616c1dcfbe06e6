"""Migrations 0002 and 0003 up and down on SQLite keep every story, job and test case: their table
rebuilds must not cascade."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from tests.support.harness import alembic_config

ROWS = [
    "INSERT INTO projects (name, description, created_at) VALUES ('p', '', '2026-01-01')",
    "INSERT INTO user_stories (id, project_id, title, description, acceptance_criteria, priority, created_at,"
    " updated_at) VALUES ('S-1', 1, 't', '', '[]', 'low', '2026-01-01', '2026-01-01')",
    "INSERT INTO generation_jobs (id, story_id, kind, options, status, progress, message, attempts,"
    " created_at) VALUES ('j1', 'S-1', 'generate', '{}', 'queued', 0, '', 0, '2026-01-01')",
    "INSERT INTO test_cases (story_id, title, description, preconditions, priority, test_type, scenarios,"
    " covered_criteria, created_at, updated_at) VALUES ('S-1', 't', '', '[]', 'low', 'functional', '[]',"
    " '[]', '2026-01-01', '2026-01-01')",
]


def counts(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [
            db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in ("user_stories", "generation_jobs", "test_cases")
        ]


def test_upgrade_and_downgrade_keep_rows_and_the_live_job_indexes(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    cfg = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(cfg, "0001")
    with sqlite3.connect(path) as db:
        for statement in ROWS:
            db.execute(statement)
    command.upgrade(cfg, "0003")
    assert counts(path) == [1, 1, 1]
    with sqlite3.connect(path) as db:
        db.execute(  # a project's job has no story
            "INSERT INTO generation_jobs (id, story_id, project_id, kind, options, status, progress, message,"
            " attempts, created_at)"
            " VALUES ('j2', NULL, 1, 'import_jira', '{}', 'queued', 0, '', 0, '2026-01-01')"
        )
        index = db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'uq_generation_jobs_active_story'"
        ).fetchone()
        assert "WHERE status IN" in index[0]
        imports = db.execute("SELECT sql FROM sqlite_master WHERE name = 'uq_generation_jobs_active_import'")
        assert "kind = 'import_jira'" in imports.fetchone()[0]
    command.downgrade(cfg, "0001")
    assert counts(path) == [1, 1, 1]  # the import job went (it has no story); nothing else did
    with sqlite3.connect(path) as db:  # and no rebuild of projects cleared the stories' project
        assert db.execute("SELECT project_id FROM user_stories").fetchall() == [(1,)]
