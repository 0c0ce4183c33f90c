"""device terminals: GT06 IMEIs and JT/T 808 phone numbers bound to tracker devices

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import safecity.store.db

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "device_terminals",
        sa.Column("protocol", sa.String(length=16), nullable=False),
        sa.Column("terminal", sa.String(length=32), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("utc_offset_minutes", sa.Integer(), nullable=False),
        sa.Column("auth_code_hash", sa.String(length=64), nullable=True),
        sa.Column("auth_issued_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("registered_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_device_terminals_device_id_devices")
        ),
        sa.PrimaryKeyConstraint("protocol", "terminal", name=op.f("pk_device_terminals")),
    )
    with op.batch_alter_table("device_terminals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_terminals_device_id"), ["device_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("device_terminals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_terminals_device_id"))
    op.drop_table("device_terminals")
