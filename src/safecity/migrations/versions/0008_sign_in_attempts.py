"""sign-in attempts per username and client address (lockout per pair, the owner's known addresses)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import safecity.store.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision; lockouts of whole accounts made before it are cleared (they were the bug)."""
    op.create_table(
        "sign_in_attempts",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("locked_until", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", safecity.store.db.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username", "client", name=op.f("pk_sign_in_attempts")),
    )
    with op.batch_alter_table("sign_in_attempts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_in_attempts_last_failure_at"), ["last_failure_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sign_in_attempts_last_success_at"), ["last_success_at"], unique=False
        )
    accounts = sa.table("accounts", sa.column("failed_logins", sa.Integer()), sa.column("locked_until"))
    op.execute(accounts.update().values(failed_logins=0, locked_until=None))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("sign_in_attempts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_attempts_last_success_at"))
        batch_op.drop_index(batch_op.f("ix_sign_in_attempts_last_failure_at"))
    op.drop_table("sign_in_attempts")
