"""Who gave a project member its role: an admin (`manual`, every existing member) or the OpenID
Provider's claim (`oidc_claim`, through OIDC_PROJECT_ROLES)

Revision ID: 0014_member_source
Revises: 0013_cached_tokens
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_member_source"
down_revision: str | None = "0013_cached_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("project_members", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(16), nullable=False, server_default="manual"))


def downgrade() -> None:
    with op.batch_alter_table("project_members", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("source")
