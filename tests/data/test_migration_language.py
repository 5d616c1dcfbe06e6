"""Migration 0006_language up and down on SQLite: the new columns come and go, and no story, job or
test case goes with them (no table rebuild that could cascade)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from tests.data.test_migration_jira import ROWS, counts
from tests.support.harness import alembic_config


def _columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def test_language_columns_up_and_down_keep_every_row(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    cfg = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(cfg, "0003")
    with sqlite3.connect(path) as db:
        for statement in ROWS:
            db.execute(statement)
    command.upgrade(cfg, "0006_language")
    assert counts(path) == [1, 1, 1]
    assert {"language", "detected_language"} <= _columns(path, "user_stories")
    assert "language" in _columns(path, "projects")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT language, detected_language FROM user_stories").fetchall() == [(None, None)]
        db.execute("UPDATE user_stories SET language = 'es', detected_language = 'es'")
        db.execute("UPDATE projects SET language = 'pt-BR'")
    command.downgrade(cfg, "0003")
    assert counts(path) == [1, 1, 1]
    assert not {"language", "detected_language"} & _columns(path, "user_stories")
    assert "language" not in _columns(path, "projects")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT project_id FROM user_stories").fetchall() == [(1,)]
