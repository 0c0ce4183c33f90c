"""wearers: elderly locators' wearers, their trackers, guardians, consents and safe zones

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import safecity.store.db

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

_UTC = safecity.store.db.UtcDateTime


def _wearer_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["wearer_id"], ["wearers.id"], name=op.f(f"fk_{table}_wearer_id_wearers"))


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "wearers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("area_id", sa.String(length=32), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("enrolled_at", _UTC(timezone=True), nullable=False),
        sa.Column("enrolled_by", sa.String(length=64), nullable=False),
        sa.Column("ended_at", _UTC(timezone=True), nullable=True),
        sa.Column("ended_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_wearers_area_id_areas")),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_wearers_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wearers")),
    )
    with op.batch_alter_table("wearers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wearers_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_wearers_area_id"), ["area_id"], unique=False)
        batch_op.create_index(
            "uq_wearers_active_person",
            ["person_id"],
            unique=True,
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
    op.create_table(
        "worn_trackers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wearer_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("added_at", _UTC(timezone=True), nullable=False),
        sa.Column("removed_at", _UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_worn_trackers_device_id_devices")
        ),
        _wearer_fk("worn_trackers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worn_trackers")),
    )
    with op.batch_alter_table("worn_trackers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_worn_trackers_wearer_id"), ["wearer_id"], unique=False)
        batch_op.create_index(
            "uq_worn_trackers_device_open",
            ["device_id"],
            unique=True,
            sqlite_where=sa.text("removed_at IS NULL"),
            postgresql_where=sa.text("removed_at IS NULL"),
        )
    op.create_table(
        "guardians",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wearer_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("relation", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("added_at", _UTC(timezone=True), nullable=False),
        sa.Column("added_by", sa.String(length=64), nullable=False),
        sa.Column("removed_at", _UTC(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_guardians_person_id_people")),
        _wearer_fk("guardians"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_guardians")),
    )
    with op.batch_alter_table("guardians", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_guardians_wearer_id"), ["wearer_id"], unique=False)
        batch_op.create_index("ix_guardians_person_open", ["person_id", "removed_at"], unique=False)
    op.create_table(
        "wearer_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wearer_id", sa.Integer(), nullable=False),
        sa.Column("given_by_person_id", sa.Integer(), nullable=False),
        sa.Column("given_by_name", sa.String(length=64), nullable=False),
        sa.Column("capacity", sa.String(length=32), nullable=False),
        sa.Column("basis", sa.Text(), nullable=False),
        sa.Column("given_at", _UTC(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", _UTC(timezone=True), nullable=False),
        sa.Column("withdrawn_at", _UTC(timezone=True), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["given_by_person_id"], ["people.id"], name=op.f("fk_wearer_consents_given_by_person_id_people")
        ),
        _wearer_fk("wearer_consents"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wearer_consents")),
    )
    with op.batch_alter_table("wearer_consents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wearer_consents_wearer_id"), ["wearer_id"], unique=False)
    op.create_table(
        "safe_zones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wearer_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("shape", sa.String(length=16), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("radius_m", sa.Float(), nullable=True),
        sa.Column("ring", sa.JSON(), nullable=True),
        sa.Column("hours", sa.JSON(), nullable=False),
        sa.Column("set_at", _UTC(timezone=True), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=False),
        _wearer_fk("safe_zones"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safe_zones")),
    )
    with op.batch_alter_table("safe_zones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_safe_zones_wearer_id"), ["wearer_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("safe_zones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_safe_zones_wearer_id"))
    op.drop_table("safe_zones")
    with op.batch_alter_table("wearer_consents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wearer_consents_wearer_id"))
    op.drop_table("wearer_consents")
    with op.batch_alter_table("guardians", schema=None) as batch_op:
        batch_op.drop_index("ix_guardians_person_open")
        batch_op.drop_index(batch_op.f("ix_guardians_wearer_id"))
    op.drop_table("guardians")
    with op.batch_alter_table("worn_trackers", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_worn_trackers_device_open",
            sqlite_where=sa.text("removed_at IS NULL"),
            postgresql_where=sa.text("removed_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_worn_trackers_wearer_id"))
    op.drop_table("worn_trackers")
    with op.batch_alter_table("wearers", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_wearers_active_person",
            sqlite_where=sa.text("status = 'active'"),
            postgresql_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("ix_wearers_area_id"))
        batch_op.drop_index(batch_op.f("ix_wearers_person_id"))
    op.drop_table("wearers")
