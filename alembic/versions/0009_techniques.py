"""Test design: a project's default test-design techniques

Revision ID: 0009_techniques
Revises: 0008_connections
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_techniques"
down_revision: str | None = "0008_connections"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("default_techniques", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("default_techniques")
