"""Run Alembic migrations programmatically (for `testgen migrate` and `testgen dev`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config


def alembic_ini() -> Path:
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = base / "alembic.ini"
        if candidate.exists():
            return candidate
    raise FileNotFoundError("alembic.ini not found; run testgen from the repository root")


def upgrade(database_url: str, revision: str = "head") -> None:
    cfg = Config(str(alembic_ini()))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, revision)
