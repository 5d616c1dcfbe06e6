"""Migration 0004_drafts up and down on SQLite keeps every story, job and test case, and gives the
rows it finds their defaults (no instructions, no budget, revision 1)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from tests.data.test_migration_jira import ROWS, counts
from tests.support.harness import alembic_config


def test_upgrade_fills_defaults_and_downgrade_keeps_rows(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    cfg = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(cfg, "0003")
    with sqlite3.connect(path) as db:
        for statement in ROWS:
            db.execute(statement)
    command.upgrade(cfg, "0004_drafts")
    assert counts(path) == [1, 1, 1]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT instructions, token_budget_daily FROM projects").fetchall() == [("", None)]
        assert db.execute("SELECT revision FROM user_stories").fetchall() == [(1,)]
        assert db.execute("SELECT story_revision, criteria_texts FROM test_cases").fetchall() == [
            (None, None)
        ]
        db.execute(
            "INSERT INTO llm_usage (project_id, task_id, day, provider, model, calls, prompt_tokens,"
            " output_tokens, total_tokens, created_at)"
            " VALUES (1, 'j1', '2026-01-01', 'offline', 'm', 1, 1, 1, 2, '2026-01-01')"
        )
        db.execute(
            "INSERT INTO story_revisions (story_id, revision, acceptance_criteria, created_at)"
            " VALUES ('S-1', 1, '[]', '2026-01-01')"
        )
    command.downgrade(cfg, "0003")
    assert counts(path) == [1, 1, 1]
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT project_id FROM user_stories").fetchall() == [(1,)]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert not {"llm_usage", "story_revisions"} & tables
