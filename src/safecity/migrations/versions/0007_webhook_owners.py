"""webhooks deliver for an owner account: only what that account may read goes out

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Webhooks registered before this revision have no owner and deliver nothing until registered again."""
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner_account_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("owner", sa.String(length=64), nullable=False, server_default=""))
        batch_op.create_index(batch_op.f("ix_webhooks_owner_account_id"), ["owner_account_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhooks_owner_account_id"))
        batch_op.drop_column("owner")
        batch_op.drop_column("owner_account_id")
