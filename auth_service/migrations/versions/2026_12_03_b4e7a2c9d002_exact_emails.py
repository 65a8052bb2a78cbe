"""users.email compared byte for byte on MySQL

Emails are stored normalised (NFC, lower-cased) by the service, so the database need not fold anything;
MySQL's default collation also folded accents, making `josé@` and `jose@` one account. A binary collation
compares exactly what the service stored, as SQLite already does.

Revision ID: b4e7a2c9d002
Revises: a1c0e7d2b001
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "b4e7a2c9d002"
down_revision: str | None = "a1c0e7d2b001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.alter_column(
            "users",
            "email",
            type_=mysql.VARCHAR(254, collation="utf8mb4_bin"),
            existing_type=sa.String(254),
            existing_nullable=False,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "mysql":
        op.alter_column(
            "users",
            "email",
            type_=mysql.VARCHAR(254, collation="utf8mb4_unicode_ci"),
            existing_type=mysql.VARCHAR(254, collation="utf8mb4_bin"),
            existing_nullable=False,
        )
