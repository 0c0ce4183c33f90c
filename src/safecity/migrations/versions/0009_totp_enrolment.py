"""users enrol their own one-time code at first sign-in (accounts.uses_totp, totp_enrolments)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import safecity.store.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision; an account that has a one-time-code secret keeps using it."""
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uses_totp", sa.Boolean(), nullable=False, server_default=sa.false()))
    accounts = sa.table("accounts", sa.column("uses_totp", sa.Boolean()), sa.column("totp_secret"))
    op.execute(accounts.update().where(accounts.c.totp_secret.is_not(None)).values(uses_totp=True))
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.alter_column("uses_totp", server_default=None)
    op.create_table(
        "totp_enrolments",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("created_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", safecity.store.db.UtcDateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_totp_enrolments_account_id_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_totp_enrolments")),
    )
    with op.batch_alter_table("totp_enrolments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_totp_enrolments_account_id"), ["account_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_totp_enrolments_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("totp_enrolments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_totp_enrolments_expires_at"))
        batch_op.drop_index(batch_op.f("ix_totp_enrolments_account_id"))
    op.drop_table("totp_enrolments")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_column("uses_totp")
