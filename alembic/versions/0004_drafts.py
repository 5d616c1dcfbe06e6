"""Better drafts: project instructions and daily token budget, story revisions, what saved test cases
cover, and the usage ledger

Revision ID: 0004_drafts
Revises: 0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_drafts"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("instructions", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("token_budget_daily", sa.Integer(), nullable=True))
    with op.batch_alter_table("user_stories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("test_cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("story_revision", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("criteria_texts", sa.JSON(), nullable=True))
    op.create_table(
        "story_revisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("story_id", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("acceptance_criteria", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"], ["user_stories.id"], name="fk_story_revisions_story_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_story_revisions"),
        sa.UniqueConstraint("story_id", "revision", name="uq_story_revisions_story_revision"),
    )
    op.create_index("ix_story_revisions_story_id", "story_revisions", ["story_id"], unique=False)
    op.create_table(
        "llm_usage",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("total_tokens", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name="fk_llm_usage_project_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_llm_usage"),
    )
    op.create_index("ix_llm_usage_project_day", "llm_usage", ["project_id", "day"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_llm_usage_project_day", table_name="llm_usage")
    op.drop_table("llm_usage")
    op.drop_index("ix_story_revisions_story_id", table_name="story_revisions")
    op.drop_table("story_revisions")
    # Not table rebuilds: on SQLite, dropping user_stories or projects (even to re-create them) with
    # foreign keys on would cascade to their test cases and jobs.
    with op.batch_alter_table("test_cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("criteria_texts")
        batch_op.drop_column("story_revision")
    with op.batch_alter_table("user_stories", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("revision")
    with op.batch_alter_table("projects", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("token_budget_daily")
        batch_op.drop_column("instructions")
