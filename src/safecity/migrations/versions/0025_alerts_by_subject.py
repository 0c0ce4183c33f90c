"""alerts by subject: an index for the open warnings of one wearer, shipment or other subject

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 01:20:00
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index("ix_alerts_subject_status", "alerts", ["subject_kind", "subject", "status"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_alerts_subject_status", table_name="alerts")
