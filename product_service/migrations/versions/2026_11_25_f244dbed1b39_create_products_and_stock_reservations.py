"""create products and stock_reservations

Revision ID: f244dbed1b39
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service_kit.db.types import BigId, UTCDateTime

revision: str = "f244dbed1b39"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price", sa.Numeric(12, 2), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        # The last word on "stock never negative", whatever a bug in the conditional updates might do.
        sa.CheckConstraint("stock >= 0", name=op.f("ck_products_stock_non_negative")),
        sa.CheckConstraint("price > 0", name=op.f("ck_products_price_positive")),
    )
    op.create_index(op.f("ix_products_name"), "products", ["name"])
    op.create_table(
        "stock_reservations",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_reservations")),
        sa.UniqueConstraint("order_id", name=op.f("uq_stock_reservations_order_id")),
    )
    op.create_table(
        "stock_reservation_lines",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("reservation_id", BigId, nullable=False),
        sa.Column("product_id", BigId, nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit_price", sa.Numeric(12, 2), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_reservation_lines")),
        sa.UniqueConstraint(
            "reservation_id", "product_id", name=op.f("uq_stock_reservation_lines_reservation_id_product_id")
        ),
        sa.ForeignKeyConstraint(
            ["reservation_id"],
            ["stock_reservations.id"],
            name=op.f("fk_stock_reservation_lines_reservation_id_stock_reservations"),
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_stock_reservation_lines_quantity_positive")),
    )


def downgrade() -> None:
    op.drop_table("stock_reservation_lines")
    op.drop_table("stock_reservations")
    op.drop_table("products")
