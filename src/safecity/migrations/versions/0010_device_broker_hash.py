"""devices keep their secret as the MQTT broker checks it (Mosquitto $7$ hash)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision; devices registered before it have none until their secret is rotated."""
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("broker_hash", sa.String(length=160), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("devices", schema=None) as batch_op:
        batch_op.drop_column("broker_hash")
