"""Story context from its tracker: the page of an imported GitHub issue or Azure DevOps work item, a
Jira issue's comments, linked issues and sub-tasks, and which Jira attachment an attachment came from

Revision ID: 0011_story_context
Revises: 0010_attachments
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_story_context"
down_revision: str | None = "0010_attachments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_stories", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("source_url", sa.String(600), nullable=True))
        batch_op.add_column(sa.Column("comments", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("linked_issues", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("subtasks", sa.JSON(), nullable=True))
    with op.batch_alter_table("story_attachments", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("source_ref", sa.String(100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("story_attachments", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("source_ref")
    with op.batch_alter_table("user_stories", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("subtasks")
        batch_op.drop_column("linked_issues")
        batch_op.drop_column("comments")
        batch_op.drop_column("source_url")
