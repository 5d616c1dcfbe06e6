"""Connections to test-management tools and Jira, and where each pushed test case lives there

Revision ID: 0008_connections
Revises: 0007_accounts
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_connections"
down_revision: str | None = "0007_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("sealed_secrets", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "name", name="uq_connections_project_name"),
    )
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_connections_project_id"), ["project_id"], unique=False)

    op.create_table(
        "pushed_cases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("test_case_id", sa.Integer(), nullable=False),
        sa.Column("story_id", sa.String(length=64), nullable=False),
        sa.Column("remote_id", sa.String(length=100), nullable=False),
        sa.Column("remote_key", sa.String(length=100), nullable=True),
        sa.Column("remote_url", sa.String(length=1000), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("remote_version", sa.String(length=100), nullable=True),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["connection_id"], ["connections.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("connection_id", "test_case_id", name="uq_pushed_cases_connection_case"),
    )
    with op.batch_alter_table("pushed_cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pushed_cases_connection_id"), ["connection_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pushed_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pushed_cases_connection_id"))

    op.drop_table("pushed_cases")
    with op.batch_alter_table("connections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_connections_project_id"))

    op.drop_table("connections")
