"""products.stock as BIGINT; on SQLite, product ids never reused

A release gives back what an order took, whatever restocks happened meanwhile, so stock can grow past the
10^9 a client may set, and past a 32-bit INT (MySQL then refuses the release). SQLite hands the largest id out
again once its row is deleted, unless the table is AUTOINCREMENT: a release for a reservation of a deleted
product would then add stock to a new one. MySQL's AUTO_INCREMENT never goes back, so only SQLite's table is
rebuilt (batch mode copies the rows, the CHECK constraints and the index).

Revision ID: a9d3c6e2f002
Revises: f244dbed1b39
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a9d3c6e2f002"
down_revision: str | None = "f244dbed1b39"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _alter_products(stock=sa.BigInteger(), was=sa.Integer(), sqlite_autoincrement=True)


def downgrade() -> None:
    _alter_products(stock=sa.Integer(), was=sa.BigInteger(), sqlite_autoincrement=False)


def _alter_products(
    *, stock: sa.types.TypeEngine[int], was: sa.types.TypeEngine[int], sqlite_autoincrement: bool
) -> None:
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "products", recreate="always", table_kwargs={"sqlite_autoincrement": sqlite_autoincrement}
        ) as batch:
            batch.alter_column("stock", type_=stock, existing_type=was, existing_nullable=False)
    else:
        op.alter_column("products", "stock", type_=stock, existing_type=was, existing_nullable=False)
