"""Jira import: a story's Jira URL; a job may belong to a project instead of a story

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The partial index of 0001, dropped and re-created around the table rebuild (SQLite's batch mode
# re-creates a table, and the condition of a partial index does not survive reflection everywhere).
_LIVE_GENERATION = sa.text("status IN ('queued', 'started', 'generating') AND kind = 'generate'")
# At most one live Jira import per project.
_LIVE_IMPORT = sa.text("status IN ('queued', 'started', 'generating') AND kind = 'import_jira'")


def _drop_live_index() -> None:
    with op.batch_alter_table("generation_jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_generation_jobs_active_story",
            sqlite_where=_LIVE_GENERATION,
            postgresql_where=_LIVE_GENERATION,
        )


def _create_live_index() -> None:
    with op.batch_alter_table("generation_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "uq_generation_jobs_active_story",
            ["story_id"],
            unique=True,
            sqlite_where=_LIVE_GENERATION,
            postgresql_where=_LIVE_GENERATION,
        )


def upgrade() -> None:
    with op.batch_alter_table("user_stories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("jira_url", sa.String(length=600), nullable=True))
    _drop_live_index()
    with op.batch_alter_table("generation_jobs", schema=None) as batch_op:
        batch_op.alter_column("story_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column("project_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_generation_jobs_project_id", "projects", ["project_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index(batch_op.f("ix_generation_jobs_project_id"), ["project_id"], unique=False)
    _create_live_index()
    with op.batch_alter_table("generation_jobs", schema=None) as batch_op:
        batch_op.create_index(
            "uq_generation_jobs_active_import",
            ["project_id"],
            unique=True,
            sqlite_where=_LIVE_IMPORT,
            postgresql_where=_LIVE_IMPORT,
        )


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM generation_jobs WHERE story_id IS NULL"))
    with op.batch_alter_table("generation_jobs", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_generation_jobs_active_import", sqlite_where=_LIVE_IMPORT, postgresql_where=_LIVE_IMPORT
        )
    _drop_live_index()
    with op.batch_alter_table("generation_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_generation_jobs_project_id"))
        batch_op.drop_constraint("fk_generation_jobs_project_id", type_="foreignkey")
        batch_op.drop_column("project_id")
        batch_op.alter_column("story_id", existing_type=sa.String(length=64), nullable=False)
    _create_live_index()
    # Not a table rebuild: on SQLite, dropping user_stories (even to re-create it) with foreign keys on
    # would cascade to every job and test case of every story.
    with op.batch_alter_table("user_stories", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("jira_url")
