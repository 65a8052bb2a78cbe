"""add login_failures

Failed logins per email, shared by both replicas: after a few, each further attempt for that email waits
longer, from any address (auth_service/throttle.py).

Revision ID: c8f2d5a1e003
Revises: b4e7a2c9d002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service_kit.db.types import UTCDateTime, exact_string

revision: str = "c8f2d5a1e003"
down_revision: str | None = "b4e7a2c9d002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("email", exact_string(254), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", UTCDateTime(), nullable=False),
        sa.Column("blocked_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_last_failed_at"), "login_failures", ["last_failed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_login_failures_last_failed_at"), table_name="login_failures")
    op.drop_table("login_failures")
