"""dispatch: units, incidents with their timeline, and dispatch orders (issue 12)

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import safecity.store.db

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "dispatch_incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("address", sa.String(length=200), nullable=False),
        sa.Column("area_id", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("caller_name", sa.String(length=64), nullable=False),
        sa.Column("caller_phone", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.String(length=64), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.Column("reported_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("dispatched_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("arrived_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into"],
            ["dispatch_incidents.id"],
            name=op.f("fk_dispatch_incidents_merged_into_dispatch_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_incidents")),
    )
    op.create_index(op.f("ix_dispatch_incidents_alert_id"), "dispatch_incidents", ["alert_id"], unique=False)
    op.create_index(
        "ix_dispatch_incidents_area_status", "dispatch_incidents", ["area_id", "status"], unique=False
    )
    op.create_index("ix_dispatch_incidents_reported", "dispatch_incidents", ["reported_at"], unique=False)
    op.create_table(
        "dispatch_incident_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("what", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["dispatch_incidents.id"],
            name=op.f("fk_dispatch_incident_events_incident_id_dispatch_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_incident_events")),
    )
    op.create_index(
        op.f("ix_dispatch_incident_events_incident_id"),
        "dispatch_incident_events",
        ["incident_id"],
        unique=False,
    )
    op.create_table(
        "dispatch_units",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("station_id", sa.String(length=32), nullable=False),
        sa.Column("area_id", sa.String(length=32), nullable=False),
        sa.Column("home_lat", sa.Float(), nullable=False),
        sa.Column("home_lon", sa.Float(), nullable=False),
        sa.Column("shift_start_min", sa.Integer(), nullable=False),
        sa.Column("shift_end_min", sa.Integer(), nullable=False),
        sa.Column("speed_kmh", sa.Float(), nullable=True),
        sa.Column("endurance_min", sa.Float(), nullable=True),
        sa.Column("device_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("last_lat", sa.Float(), nullable=True),
        sa.Column("last_lon", sa.Float(), nullable=True),
        sa.Column("last_fix_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("position_flag", sa.String(length=64), nullable=True),
        sa.Column("crew", sa.JSON(), nullable=False),
        sa.Column("created_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["dispatch_incidents.id"],
            name=op.f("fk_dispatch_units_incident_id_dispatch_incidents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_units")),
    )
    op.create_index("ix_dispatch_units_area_status", "dispatch_units", ["area_id", "status"], unique=False)
    op.create_index(op.f("ix_dispatch_units_device_id"), "dispatch_units", ["device_id"], unique=False)
    op.create_table(
        "dispatch_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=32), nullable=False),
        sa.Column("unit_id", sa.String(length=32), nullable=True),
        sa.Column("desk", sa.String(length=32), nullable=True),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("deadline_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("issued_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.String(length=64), nullable=False),
        sa.Column("accepted_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("en_route_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("on_scene_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("reported_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("eta_s", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["dispatch_incidents.id"],
            name=op.f("fk_dispatch_orders_incident_id_dispatch_incidents"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["dispatch_units.id"], name=op.f("fk_dispatch_orders_unit_id_dispatch_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispatch_orders")),
    )
    op.create_index(op.f("ix_dispatch_orders_incident_id"), "dispatch_orders", ["incident_id"], unique=False)
    op.create_index(
        "ix_dispatch_orders_status_deadline", "dispatch_orders", ["status", "deadline_at"], unique=False
    )
    op.create_index(op.f("ix_dispatch_orders_unit_id"), "dispatch_orders", ["unit_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_dispatch_orders_unit_id"), table_name="dispatch_orders")
    op.drop_index("ix_dispatch_orders_status_deadline", table_name="dispatch_orders")
    op.drop_index(op.f("ix_dispatch_orders_incident_id"), table_name="dispatch_orders")
    op.drop_table("dispatch_orders")
    op.drop_index(op.f("ix_dispatch_units_device_id"), table_name="dispatch_units")
    op.drop_index("ix_dispatch_units_area_status", table_name="dispatch_units")
    op.drop_table("dispatch_units")
    op.drop_index(op.f("ix_dispatch_incident_events_incident_id"), table_name="dispatch_incident_events")
    op.drop_table("dispatch_incident_events")
    op.drop_index("ix_dispatch_incidents_reported", table_name="dispatch_incidents")
    op.drop_index("ix_dispatch_incidents_area_status", table_name="dispatch_incidents")
    op.drop_index(op.f("ix_dispatch_incidents_alert_id"), table_name="dispatch_incidents")
    op.drop_table("dispatch_incidents")
