"""places: compounds, buildings, flats, landlords, tenancies, identity cards, visitors, shops, doors,
vehicles, alarm zones and the community officer's visit list

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import safecity.store.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "compounds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("gated", sa.Boolean(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("boundary", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_compounds_community_id_areas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compounds")),
    )
    with op.batch_alter_table("compounds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_compounds_community_id"), ["community_id"], unique=False)

    op.create_table(
        "buildings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("compound_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["compound_id"], ["compounds.id"], name=op.f("fk_buildings_compound_id_compounds")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buildings")),
    )
    with op.batch_alter_table("buildings", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_buildings_compound_id"), ["compound_id"], unique=False)

    op.create_table(
        "identity_cards",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=True),
        sa.Column("ethnicity", sa.String(length=16), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("address", sa.String(length=256), nullable=True),
        sa.Column("issuing_authority", sa.String(length=128), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("photo", sa.LargeBinary(), nullable=True),
        sa.Column("read_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("read_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_identity_cards_person_id_people")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_identity_cards")),
    )
    op.create_table(
        "landlords",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("registered_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_landlords_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_landlords")),
        sa.UniqueConstraint("person_id", name=op.f("uq_landlords_person_id")),
    )
    with op.batch_alter_table("landlords", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_landlords_account_id"), ["account_id"], unique=False)

    op.create_table(
        "shops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("owner_person_id", sa.Integer(), nullable=False),
        sa.Column("owner_account_id", sa.Integer(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("business_hours", sa.JSON(), nullable=True),
        sa.Column("auto_arm", sa.Boolean(), nullable=False),
        sa.Column("armed", sa.Boolean(), nullable=False),
        sa.Column("armed_changed_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("armed_changed_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["community_id"], ["areas.id"], name=op.f("fk_shops_community_id_areas")),
        sa.ForeignKeyConstraint(
            ["owner_person_id"], ["people.id"], name=op.f("fk_shops_owner_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shops")),
    )
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_shops_community_id"), ["community_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shops_owner_account_id"), ["owner_account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_shops_owner_person_id"), ["owner_person_id"], unique=False)

    op.create_table(
        "vehicles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("compound_id", sa.String(length=32), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("registered_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["compound_id"], ["compounds.id"], name=op.f("fk_vehicles_compound_id_compounds")
        ),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_vehicles_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vehicles")),
        sa.UniqueConstraint("compound_id", "plate", name="uq_vehicles_compound_plate"),
    )
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vehicles_compound_id"), ["compound_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_vehicles_plate"), ["plate"], unique=False)

    op.create_table(
        "alarm_zones",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("zone", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("compound_id", sa.String(length=32), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("armed_hours", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["compound_id"], ["compounds.id"], name=op.f("fk_alarm_zones_compound_id_compounds")
        ),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_alarm_zones_device_id_devices")),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_alarm_zones_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_zones")),
    )
    with op.batch_alter_table("alarm_zones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alarm_zones_compound_id"), ["compound_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_zones_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_alarm_zones_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "doors",
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("compound_id", sa.String(length=32), nullable=True),
        sa.Column("building_id", sa.String(length=32), nullable=True),
        sa.Column("shop_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_doors_building_id_buildings")
        ),
        sa.ForeignKeyConstraint(
            ["compound_id"], ["compounds.id"], name=op.f("fk_doors_compound_id_compounds")
        ),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"], name=op.f("fk_doors_device_id_devices")),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_doors_shop_id_shops")),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_doors")),
    )
    with op.batch_alter_table("doors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_doors_building_id"), ["building_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_doors_compound_id"), ["compound_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_doors_shop_id"), ["shop_id"], unique=False)

    op.create_table(
        "flats",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("building_id", sa.String(length=32), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("use", sa.String(length=16), nullable=False),
        sa.Column("owner_person_id", sa.Integer(), nullable=True),
        sa.Column("landlord_id", sa.Integer(), nullable=True),
        sa.Column("visited_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_flats_building_id_buildings")
        ),
        sa.ForeignKeyConstraint(
            ["landlord_id"], ["landlords.id"], name=op.f("fk_flats_landlord_id_landlords")
        ),
        sa.ForeignKeyConstraint(
            ["owner_person_id"], ["people.id"], name=op.f("fk_flats_owner_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flats")),
        sa.UniqueConstraint("building_id", "number", name="uq_flats_building_number"),
    )
    with op.batch_alter_table("flats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flats_building_id"), ["building_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_flats_landlord_id"), ["landlord_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_flats_owner_person_id"), ["owner_person_id"], unique=False)

    op.create_table(
        "tenancies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flat_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("planned_end", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("registered_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=64), nullable=False),
        sa.Column("registered_via", sa.String(length=16), nullable=False),
        sa.Column("checked_out_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("checked_out_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["flat_id"], ["flats.id"], name=op.f("fk_tenancies_flat_id_flats")),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_tenancies_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenancies")),
    )
    with op.batch_alter_table("tenancies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tenancies_checked_out_at"), ["checked_out_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_tenancies_flat_id"), ["flat_id"], unique=False)
        batch_op.create_index("ix_tenancies_person_open", ["person_id", "checked_out_at"], unique=False)

    op.create_table(
        "visit_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.String(length=26), nullable=False),
        sa.Column("community_id", sa.String(length=32), nullable=False),
        sa.Column("compound_id", sa.String(length=32), nullable=True),
        sa.Column("building_id", sa.String(length=32), nullable=True),
        sa.Column("flat_id", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("visited_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("visited_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["building_id"], ["buildings.id"], name=op.f("fk_visit_tasks_building_id_buildings")
        ),
        sa.ForeignKeyConstraint(
            ["community_id"], ["areas.id"], name=op.f("fk_visit_tasks_community_id_areas")
        ),
        sa.ForeignKeyConstraint(
            ["compound_id"], ["compounds.id"], name=op.f("fk_visit_tasks_compound_id_compounds")
        ),
        sa.ForeignKeyConstraint(["flat_id"], ["flats.id"], name=op.f("fk_visit_tasks_flat_id_flats")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visit_tasks")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_visit_tasks_alert_id")),
    )
    with op.batch_alter_table("visit_tasks", schema=None) as batch_op:
        batch_op.create_index("ix_visit_tasks_community_status", ["community_id", "status"], unique=False)

    op.create_table(
        "visitor_passes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("compound_id", sa.String(length=32), nullable=False),
        sa.Column("flat_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("valid_from", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=64), nullable=False),
        sa.Column("registered_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["compound_id"], ["compounds.id"], name=op.f("fk_visitor_passes_compound_id_compounds")
        ),
        sa.ForeignKeyConstraint(["flat_id"], ["flats.id"], name=op.f("fk_visitor_passes_flat_id_flats")),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_visitor_passes_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_passes")),
    )
    with op.batch_alter_table("visitor_passes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_passes_compound_id"), ["compound_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_visitor_passes_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_visitor_passes_valid_until"), ["valid_until"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("visitor_passes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_passes_valid_until"))
        batch_op.drop_index(batch_op.f("ix_visitor_passes_person_id"))
        batch_op.drop_index(batch_op.f("ix_visitor_passes_compound_id"))

    op.drop_table("visitor_passes")
    with op.batch_alter_table("visit_tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_visit_tasks_community_status")

    op.drop_table("visit_tasks")
    with op.batch_alter_table("tenancies", schema=None) as batch_op:
        batch_op.drop_index("ix_tenancies_person_open")
        batch_op.drop_index(batch_op.f("ix_tenancies_flat_id"))
        batch_op.drop_index(batch_op.f("ix_tenancies_checked_out_at"))

    op.drop_table("tenancies")
    with op.batch_alter_table("flats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_flats_owner_person_id"))
        batch_op.drop_index(batch_op.f("ix_flats_landlord_id"))
        batch_op.drop_index(batch_op.f("ix_flats_building_id"))

    op.drop_table("flats")
    with op.batch_alter_table("doors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_doors_shop_id"))
        batch_op.drop_index(batch_op.f("ix_doors_compound_id"))
        batch_op.drop_index(batch_op.f("ix_doors_building_id"))

    op.drop_table("doors")
    with op.batch_alter_table("alarm_zones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alarm_zones_shop_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_zones_device_id"))
        batch_op.drop_index(batch_op.f("ix_alarm_zones_compound_id"))

    op.drop_table("alarm_zones")
    with op.batch_alter_table("vehicles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vehicles_plate"))
        batch_op.drop_index(batch_op.f("ix_vehicles_compound_id"))

    op.drop_table("vehicles")
    with op.batch_alter_table("shops", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shops_owner_person_id"))
        batch_op.drop_index(batch_op.f("ix_shops_owner_account_id"))
        batch_op.drop_index(batch_op.f("ix_shops_community_id"))

    op.drop_table("shops")
    with op.batch_alter_table("landlords", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_landlords_account_id"))

    op.drop_table("landlords")
    op.drop_table("identity_cards")
    with op.batch_alter_table("buildings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_buildings_compound_id"))

    op.drop_table("buildings")
    with op.batch_alter_table("compounds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_compounds_community_id"))

    op.drop_table("compounds")
