"""hazmat: products, storage sites, the stock ledger and counts, shipments, restricted and stop zones

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import safecity.store.db

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "hazmat_products",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("un_number", sa.String(length=4), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("hazard_class", sa.String(length=8), nullable=False),
        sa.Column("packing_group", sa.String(length=3), nullable=True),
        sa.Column("density_kg_per_l", sa.Float(), nullable=True),
        sa.Column("created_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazmat_products")),
        sa.UniqueConstraint("un_number", name=op.f("uq_hazmat_products_un_number")),
    )
    op.create_table(
        "hazmat_sites",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("area_id", sa.String(length=32), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("licence", sa.String(length=64), nullable=False),
        sa.Column("permitted_un", sa.JSON(), nullable=False),
        sa.Column("created_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_hazmat_sites_area_id_areas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazmat_sites")),
    )
    with op.batch_alter_table("hazmat_sites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hazmat_sites_area_id"), ["area_id"], unique=False)

    op.create_table(
        "hazmat_zones",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("area_id", sa.String(length=32), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("created_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_hazmat_zones_area_id_areas")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazmat_zones")),
        sa.UniqueConstraint("kind", "name", name="uq_hazmat_zones_kind_name"),
    )
    with op.batch_alter_table("hazmat_zones", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hazmat_zones_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazmat_zones_kind"), ["kind"], unique=False)

    op.create_table(
        "hazmat_shipments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("un_number", sa.String(length=4), nullable=False),
        sa.Column("hazard_class", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=4), nullable=False),
        sa.Column("quantity_kg", sa.Float(), nullable=False),
        sa.Column("consignor_site_id", sa.Integer(), nullable=False),
        sa.Column("consignee_site_id", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(length=128), nullable=False),
        sa.Column("plate", sa.String(length=16), nullable=False),
        sa.Column("device_id", sa.String(length=64), nullable=False),
        sa.Column("terminal", sa.String(length=32), nullable=False),
        sa.Column("area_id", sa.String(length=32), nullable=False),
        sa.Column("route", sa.JSON(), nullable=False),
        sa.Column("depart_from", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("depart_until", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("arrive_from", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("arrive_until", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("loaded_kg", sa.Float(), nullable=True),
        sa.Column("delivered_kg", sa.Float(), nullable=True),
        sa.Column("loaded_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("departed_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("created_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["area_id"], ["areas.id"], name=op.f("fk_hazmat_shipments_area_id_areas")),
        sa.ForeignKeyConstraint(
            ["consignee_site_id"],
            ["hazmat_sites.id"],
            name=op.f("fk_hazmat_shipments_consignee_site_id_hazmat_sites"),
        ),
        sa.ForeignKeyConstraint(
            ["consignor_site_id"],
            ["hazmat_sites.id"],
            name=op.f("fk_hazmat_shipments_consignor_site_id_hazmat_sites"),
        ),
        sa.ForeignKeyConstraint(
            ["device_id"], ["devices.id"], name=op.f("fk_hazmat_shipments_device_id_devices")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["hazmat_products.id"],
            name=op.f("fk_hazmat_shipments_product_id_hazmat_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazmat_shipments")),
    )
    with op.batch_alter_table("hazmat_shipments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hazmat_shipments_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazmat_shipments_device_id"), ["device_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_hazmat_shipments_status"), ["status"], unique=False)

    op.create_table(
        "hazmat_stock_counts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("declared_kg", sa.Float(), nullable=False),
        sa.Column("ledger_kg", sa.Float(), nullable=False),
        sa.Column("counted_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("counted_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["hazmat_products.id"],
            name=op.f("fk_hazmat_stock_counts_product_id_hazmat_products"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["hazmat_sites.id"], name=op.f("fk_hazmat_stock_counts_site_id_hazmat_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazmat_stock_counts")),
    )
    with op.batch_alter_table("hazmat_stock_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hazmat_stock_counts_site_id"), ["site_id"], unique=False)

    op.create_table(
        "hazmat_stock_movements",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("quantity_kg", sa.Float(), nullable=False),
        sa.Column("quantity", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=4), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=True),
        sa.Column("at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("note", sa.String(length=256), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["hazmat_products.id"],
            name=op.f("fk_hazmat_stock_movements_product_id_hazmat_products"),
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"],
            ["hazmat_shipments.id"],
            name=op.f("fk_hazmat_stock_movements_shipment_id_hazmat_shipments"),
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["hazmat_sites.id"], name=op.f("fk_hazmat_stock_movements_site_id_hazmat_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hazmat_stock_movements")),
    )
    with op.batch_alter_table("hazmat_stock_movements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hazmat_stock_movements_shipment_id"), ["shipment_id"], unique=False
        )
        batch_op.create_index("ix_hazmat_stock_site_product", ["site_id", "product_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("hazmat_stock_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_hazmat_stock_site_product")
        batch_op.drop_index(batch_op.f("ix_hazmat_stock_movements_shipment_id"))

    op.drop_table("hazmat_stock_movements")
    with op.batch_alter_table("hazmat_stock_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hazmat_stock_counts_site_id"))

    op.drop_table("hazmat_stock_counts")
    with op.batch_alter_table("hazmat_shipments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hazmat_shipments_status"))
        batch_op.drop_index(batch_op.f("ix_hazmat_shipments_device_id"))
        batch_op.drop_index(batch_op.f("ix_hazmat_shipments_area_id"))

    op.drop_table("hazmat_shipments")
    with op.batch_alter_table("hazmat_zones", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hazmat_zones_kind"))
        batch_op.drop_index(batch_op.f("ix_hazmat_zones_area_id"))

    op.drop_table("hazmat_zones")
    with op.batch_alter_table("hazmat_sites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hazmat_sites_area_id"))

    op.drop_table("hazmat_sites")
    op.drop_table("hazmat_products")
