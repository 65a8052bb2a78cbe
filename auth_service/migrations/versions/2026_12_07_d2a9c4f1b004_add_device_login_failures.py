"""add device_login_failures

Failed logins per device cookie: a client the account knows is counted apart from the account's other
clients, so guessers cannot lock its owner out (auth_service/devices.py).

Revision ID: d2a9c4f1b004
Revises: c8f2d5a1e003
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service_kit.db.types import UTCDateTime

revision: str = "d2a9c4f1b004"
down_revision: str | None = "c8f2d5a1e003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_login_failures",
        sa.Column("device_id", sa.String(32), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", UTCDateTime(), nullable=False),
        sa.Column("blocked_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_device_login_failures")),
    )
    op.create_index(op.f("ix_device_login_failures_last_failed_at"), "device_login_failures", ["last_failed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_device_login_failures_last_failed_at"), table_name="device_login_failures")
    op.drop_table("device_login_failures")
