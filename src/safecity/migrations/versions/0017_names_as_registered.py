"""visitor passes and tenancies keep the name their registrar gave (never the registry's name for a number)

Revision ID: 0017
Revises: 0012
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision: a visitor pass and a tenancy name their person as registered."""
    for table in ("visitor_passes", "tenancies"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("name", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    """Revert this revision."""
    for table in ("tenancies", "visitor_passes"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("name")
