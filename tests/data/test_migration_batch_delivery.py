"""Migration 0012_batch_delivery up and down on SQLite: a project's default delivery and the ledger's
batch columns come and go, and no row goes with them."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command

from tests.data.test_migration_jira import ROWS, counts
from tests.support.harness import alembic_config


def _columns(path: Path, table: str) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def test_batch_delivery_columns_up_and_down_keep_every_row(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    cfg = alembic_config(f"sqlite+aiosqlite:///{path}")
    command.upgrade(cfg, "0003")
    with sqlite3.connect(path) as db:
        for statement in ROWS:
            db.execute(statement)
    command.upgrade(cfg, "0012_batch_delivery")
    assert "default_delivery" in _columns(path, "projects")
    assert {"batch_calls", "batch_tokens"} <= _columns(path, "llm_usage")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT default_delivery FROM projects").fetchall() == [(None,)]
    assert counts(path) == [1, 1, 1]
    command.downgrade(cfg, "0011_story_context")
    assert "default_delivery" not in _columns(path, "projects")
    assert not {"batch_calls", "batch_tokens"} & _columns(path, "llm_usage")
    assert counts(path) == [1, 1, 1]
    command.upgrade(cfg, "head")
    assert "default_delivery" in _columns(path, "projects")
