"""missing reports: wearers reported missing, what was shown then, and how each ended

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import safecity.store.db

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    when = safecity.store.db.UtcDateTime(timezone=True)
    op.create_table(
        "missing_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wearer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("area_id", sa.String(length=32), nullable=False),
        sa.Column("reported_at", when, nullable=False),
        sa.Column("reported_by", sa.String(length=64), nullable=False),
        sa.Column("reporter_role", sa.String(length=32), nullable=False),
        sa.Column("circumstances", sa.Text(), nullable=False),
        sa.Column("last_seen_at", when, nullable=True),
        sa.Column("alert_id", sa.String(length=64), nullable=True),
        sa.Column("last_fix_at", when, nullable=True),
        sa.Column("last_lat", sa.Float(), nullable=True),
        sa.Column("last_lon", sa.Float(), nullable=True),
        sa.Column("search_area", sa.JSON(), nullable=True),
        sa.Column("closed_at", when, nullable=True),
        sa.Column("closed_by", sa.String(length=64), nullable=True),
        sa.Column("found_at", when, nullable=True),
        sa.Column("found_lat", sa.Float(), nullable=True),
        sa.Column("found_lon", sa.Float(), nullable=True),
        sa.Column("outcome_note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["wearer_id"], ["wearers.id"], name=op.f("fk_missing_reports_wearer_id_wearers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_missing_reports")),
    )
    with op.batch_alter_table("missing_reports", schema=None) as batch_op:
        batch_op.create_index("ix_missing_reports_wearer_status", ["wearer_id", "status"], unique=False)
        batch_op.create_index(batch_op.f("ix_missing_reports_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_missing_reports_area_id"), ["area_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_missing_reports_reported_at"), ["reported_at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("missing_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_missing_reports_reported_at"))
        batch_op.drop_index(batch_op.f("ix_missing_reports_area_id"))
        batch_op.drop_index(batch_op.f("ix_missing_reports_status"))
        batch_op.drop_index("ix_missing_reports_wearer_status")
    op.drop_table("missing_reports")
