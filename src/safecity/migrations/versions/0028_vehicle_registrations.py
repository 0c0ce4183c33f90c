"""workbench: the city's vehicle registry (机动车登记), for forged-plate checks (issue 13)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08 09:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import safecity.store.db

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "vehicle_registrations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("plate_colour", sa.String(length=16), nullable=False),
        sa.Column("vehicle_type", sa.String(length=16), nullable=False),
        sa.Column("body_colour", sa.String(length=16), nullable=False),
        sa.Column("make_model", sa.String(length=64), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("registered_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["people.id"], name=op.f("fk_vehicle_registrations_owner_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicle_registrations")),
        sa.UniqueConstraint("plate", name=op.f("uq_vehicle_registrations_plate")),
    )
    with op.batch_alter_table("vehicle_registrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vehicle_registrations_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("vehicle_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicle_registrations_owner_id"))

    op.drop_table("vehicle_registrations")
