"""add orders.reservation_id

The product service files an order's stock under the id the order service gives it. Sequential order ids
come back after ordersDB is restored or reset, and would then meet the reservations of the orders that
were lost; a random reservation id never does. Existing orders keep their id as their reservation id,
which is what they reserved under.

Revision ID: d7a2b9c4e002
Revises: c3e1f5a7b001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d7a2b9c4e002"
down_revision: str | None = "c3e1f5a7b001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("reservation_id", sa.BigInteger(), nullable=True))
    op.execute("UPDATE orders SET reservation_id = id")
    with op.batch_alter_table("orders") as batch:
        batch.alter_column("reservation_id", existing_type=sa.BigInteger(), nullable=False)
        batch.create_unique_constraint(op.f("uq_orders_reservation_id"), ["reservation_id"])


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint(op.f("uq_orders_reservation_id"), type_="unique")
        batch.drop_column("reservation_id")
