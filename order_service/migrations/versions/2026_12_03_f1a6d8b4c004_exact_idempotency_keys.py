"""orders.idempotency_key compared byte for byte on MySQL

MySQL's default utf8mb4 collations compare case-insensitively, so `aB3` and `Ab3` from one user were one
key there and two on SQLite. A binary collation makes them two everywhere, as API.md says. (A downgrade
fails if one user has keys differing only in case by then.) SQLite compares binary already.

Revision ID: f1a6d8b4c004
Revises: e5b8c1d3f003
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "f1a6d8b4c004"
down_revision: str | None = "e5b8c1d3f003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.alter_column(
            "orders",
            "idempotency_key",
            type_=mysql.VARCHAR(255, collation="utf8mb4_bin"),
            existing_type=sa.String(255),
            existing_nullable=True,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.alter_column(
            "orders",
            "idempotency_key",
            type_=mysql.VARCHAR(255, collation="utf8mb4_unicode_ci"),
            existing_type=mysql.VARCHAR(255, collation="utf8mb4_bin"),
            existing_nullable=True,
        )
