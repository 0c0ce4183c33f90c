"""case numbers come from a counter per year, so that cases opened at once never clash

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the counter and start each year's at the highest case number already given."""
    counters = op.create_table(
        "case_numbers",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_case_numbers")),
    )
    last: dict[int, int] = {}
    for (case_id,) in op.get_bind().execute(sa.text("SELECT id FROM cases")):
        year, _, number = str(case_id).removeprefix("C").partition("-")
        if year.isdigit() and number.isdigit():
            last[int(year)] = max(last.get(int(year), 0), int(number))
    if last:
        op.bulk_insert(counters, [{"year": y, "last": n} for y, n in sorted(last.items())])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("case_numbers")
