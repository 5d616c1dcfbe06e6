"""The usage ledger's prompt tokens served from a provider's prompt cache

Revision ID: 0013_cached_tokens
Revises: 0012_batch_delivery
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_cached_tokens"
down_revision: str | None = "0012_batch_delivery"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("llm_usage", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("cached_tokens", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("llm_usage", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("cached_tokens")
