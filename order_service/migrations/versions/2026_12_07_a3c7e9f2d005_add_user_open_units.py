"""add user_open_units

The units each user's pending and confirmed orders hold, so a placement can check the per-user limit
(ORDER_MAX_OPEN_UNITS_PER_USER) with one locked row. Filled from the orders already there.

Revision ID: a3c7e9f2d005
Revises: f1a6d8b4c004
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a3c7e9f2d005"
down_revision: str | None = "f1a6d8b4c004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_open_units",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_open_units")),
    )
    op.execute(
        "INSERT INTO user_open_units (user_id, units) "
        "SELECT o.user_id, SUM(l.quantity) FROM orders o JOIN order_lines l ON l.order_id = o.id "
        "WHERE o.status IN ('pending', 'confirmed') GROUP BY o.user_id"
    )


def downgrade() -> None:
    op.drop_table("user_open_units")
