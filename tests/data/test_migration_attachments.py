"""Migration 0010_attachments up and down on SQLite: the table comes and goes, no story goes with it,
and a story's deletion takes its attachments."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from tests.data.test_migration_jira import ROWS, counts
from tests.support.harness import alembic_config


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_attachments_table_up_and_down_keeps_every_story(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    cfg = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(cfg, "0003")
    with sqlite3.connect(path) as db:
        for statement in ROWS:
            db.execute(statement)
    command.upgrade(cfg, "0010_attachments")
    assert "story_attachments" in _tables(path)
    assert counts(path) == [1, 1, 1]
    command.downgrade(cfg, "0009_techniques")
    assert "story_attachments" not in _tables(path)
    assert counts(path) == [1, 1, 1]
    command.upgrade(cfg, "0010_attachments")
    with sqlite3.connect(path) as db:
        (story_id,) = db.execute("SELECT id FROM user_stories").fetchone()
        db.execute(
            "INSERT INTO story_attachments (story_id, file_name, media_type, kind, size, sha256, created_at) "
            "VALUES (?, 'a.txt', 'text/plain', 'text', 1, ?, '2026-12-07 00:00:00')",
            (story_id, "0" * 64),
        )
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("DELETE FROM user_stories")
        assert db.execute("SELECT count(*) FROM story_attachments").fetchone() == (0,)
