"""whitelists: the versioned list each door controller holds, and the deltas between versions

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import safecity.store.db

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "door_whitelists",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.Column("changed_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["doors.device_id"], name=op.f("fk_door_whitelists_device_id_doors")
        ),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_door_whitelists")),
    )
    op.create_table(
        "whitelist_deltas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("added", sa.JSON(), nullable=False),
        sa.Column("removed", sa.JSON(), nullable=False),
        sa.Column("created_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["doors.device_id"], name=op.f("fk_whitelist_deltas_device_id_doors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_whitelist_deltas")),
        sa.UniqueConstraint("device_id", "version", name="uq_whitelist_deltas_device_version"),
    )
    with op.batch_alter_table("whitelist_deltas", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_whitelist_deltas_device_id"), ["device_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("whitelist_deltas", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_whitelist_deltas_device_id"))
    op.drop_table("whitelist_deltas")
    op.drop_table("door_whitelists")
