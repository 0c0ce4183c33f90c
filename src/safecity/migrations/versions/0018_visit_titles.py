"""visit tasks carry the warning's title, so the officer's list says what to look for

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision: visit_tasks.title."""
    with op.batch_alter_table("visit_tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title", sa.String(length=200), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("visit_tasks", schema=None) as batch_op:
        batch_op.drop_column("title")
