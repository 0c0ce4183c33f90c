"""shop staff: the employees of a shop whose cards open its doors

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import safecity.store.db

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "shop_staff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("added_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("until", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("removed_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_shop_staff_person_id_people")),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_shop_staff_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shop_staff")),
    )
    with op.batch_alter_table("shop_staff", schema=None) as batch_op:
        batch_op.create_index("ix_shop_staff_shop_open", ["shop_id", "removed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_shop_staff_person_id"), ["person_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("shop_staff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shop_staff_person_id"))
        batch_op.drop_index("ix_shop_staff_shop_open")
    op.drop_table("shop_staff")
