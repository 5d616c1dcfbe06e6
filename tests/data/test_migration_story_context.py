"""Migration 0011_story_context up and down on SQLite: the story's tracker columns come and go, and no
story goes with them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from tests.data.test_migration_jira import ROWS, counts
from tests.support.harness import alembic_config

COLUMNS = {"source_url", "comments", "linked_issues", "subtasks"}


def _columns(path: Path, table: str = "user_stories") -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def test_story_context_columns_up_and_down_keep_every_story(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    cfg = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(cfg, "0003")
    with sqlite3.connect(path) as db:
        for statement in ROWS:
            db.execute(statement)
    command.upgrade(cfg, "0011_story_context")
    assert _columns(path) >= COLUMNS
    with sqlite3.connect(path) as db:
        assert db.execute(
            "SELECT comments, linked_issues, subtasks, source_url FROM user_stories"
        ).fetchone() == (
            None,
            None,
            None,
            None,
        )
    assert counts(path) == [1, 1, 1]
    assert "source_ref" in _columns(path, "story_attachments")
    command.downgrade(cfg, "0010_attachments")
    assert not COLUMNS & _columns(path)
    assert "source_ref" not in _columns(path, "story_attachments")
    assert counts(path) == [1, 1, 1]
    command.upgrade(cfg, "head")
    assert _columns(path) >= COLUMNS
