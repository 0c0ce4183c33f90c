"""alert evidence codes as long as ingest accepts (256 characters)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 00:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("alert_evidence", schema=None) as batch_op:
        batch_op.alter_column(
            "code", existing_type=sa.String(length=32), type_=sa.String(length=256), existing_nullable=True
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("alert_evidence", schema=None) as batch_op:
        batch_op.alter_column(
            "code", existing_type=sa.String(length=256), type_=sa.String(length=32), existing_nullable=True
        )
