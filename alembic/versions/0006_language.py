"""Languages: a project's and a story's chosen language (BCP 47), and the language detected from a story

Revision ID: 0006_language
Revises: 0004_drafts
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_language"
down_revision: str | None = "0004_drafts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=35), nullable=True))
    # Not a table rebuild: on SQLite, dropping user_stories with foreign keys on would cascade.
    with op.batch_alter_table("user_stories", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=35), nullable=True))
        batch_op.add_column(sa.Column("detected_language", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_stories", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("detected_language")
        batch_op.drop_column("language")
    with op.batch_alter_table("projects", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("language")
