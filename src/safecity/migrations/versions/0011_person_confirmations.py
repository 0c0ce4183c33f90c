"""claims about a person wait for them: bikes without an owner until confirmed, codes by SMS, the desk

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from safecity.store.db import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision: a bike may wait for its owner; messages and verifications get tables."""
    with op.batch_alter_table("ebikes", schema=None) as batch_op:
        batch_op.alter_column("owner_id", existing_type=sa.Integer(), nullable=True)
    op.create_table(
        "person_messages",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("gateway", sa.String(length=64), nullable=True),
        sa.Column("handed_at", UtcDateTime(), nullable=True),
        sa.Column("done_at", UtcDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_person_messages_person_id_people")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_messages")),
    )
    op.create_index(op.f("ix_person_messages_person_id"), "person_messages", ["person_id"], unique=False)
    op.create_index(
        "ix_person_messages_status_created", "person_messages", ["status", "created_at"], unique=False
    )
    op.create_table(
        "verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_unit", sa.String(length=128), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", UtcDateTime(), nullable=True),
        sa.Column("method", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"], name=op.f("fk_verifications_person_id_people")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verifications")),
    )
    op.create_index(op.f("ix_verifications_person_id"), "verifications", ["person_id"], unique=False)
    op.create_index(
        "ix_verifications_purpose_subject_status",
        "verifications",
        ["purpose", "subject", "status"],
        unique=False,
    )


def downgrade() -> None:
    """Revert this revision (bikes still waiting for their owner cannot go back: remove them first)."""
    op.drop_index("ix_verifications_purpose_subject_status", table_name="verifications")
    op.drop_index(op.f("ix_verifications_person_id"), table_name="verifications")
    op.drop_table("verifications")
    op.drop_index("ix_person_messages_status_created", table_name="person_messages")
    op.drop_index(op.f("ix_person_messages_person_id"), table_name="person_messages")
    op.drop_table("person_messages")
    with op.batch_alter_table("ebikes", schema=None) as batch_op:
        batch_op.alter_column("owner_id", existing_type=sa.Integer(), nullable=False)
