"""Batch delivery: a project's default delivery for bulk generation, and the usage ledger's calls and
tokens answered through a provider's Batch API (billed at the batch price)

Revision ID: 0012_batch_delivery
Revises: 0011_story_context
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_batch_delivery"
down_revision: str | None = "0011_story_context"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("projects", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("default_delivery", sa.String(16), nullable=True))
    with op.batch_alter_table("llm_usage", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("batch_calls", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("batch_tokens", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("llm_usage", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("batch_tokens")
        batch_op.drop_column("batch_calls")
    with op.batch_alter_table("projects", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("default_delivery")
