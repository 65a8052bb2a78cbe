"""create orders and order_lines

Revision ID: c3e1f5a7b001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service_kit.db.types import BigId, UTCDateTime

revision: str = "c3e1f5a7b001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Numeric(12, 2), nullable=True),
        sa.Column("idempotency_key", sa.String(255), nullable=True),
        sa.Column("request_fingerprint", sa.String(64), nullable=False),
        sa.Column("failure_code", sa.String(64), nullable=True),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
        sa.UniqueConstraint("user_id", "idempotency_key", name=op.f("uq_orders_user_id_idempotency_key")),
    )
    op.create_index(op.f("ix_orders_user_id_id"), "orders", ["user_id", "id"])
    op.create_index(op.f("ix_orders_status_updated_at"), "orders", ["status", "updated_at"])
    op.create_table(
        "order_lines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_id", BigId, nullable=False),
        sa.Column("product_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("unit_price", sa.Numeric(12, 2), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_lines")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_order_lines_order_id_orders"), ondelete="CASCADE"
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_order_lines_quantity_positive")),
    )
    op.create_index(op.f("ix_order_lines_order_id"), "order_lines", ["order_id"])


def downgrade() -> None:
    op.drop_table("order_lines")
    op.drop_table("orders")
