"""a project's LLM provider and model

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("llm_provider", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("llm_model", sa.String(length=200), nullable=True))


def downgrade() -> None:
    # Not a table rebuild: on SQLite, dropping projects (even to re-create it) with foreign keys on
    # would set every story's project_id to NULL.
    with op.batch_alter_table("projects", recreate="never") as batch:
        batch.drop_column("llm_model")
        batch.drop_column("llm_provider")
