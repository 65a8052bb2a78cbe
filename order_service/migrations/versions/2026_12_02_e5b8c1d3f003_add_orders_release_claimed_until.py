"""add orders.release_claimed_until

Every replica's reconciler delivers the releases still owed. A replica claims a batch of them until this
time, so two replicas never walk the same orders, and a replica that dies holding a claim loses it when the
time passes. The index finds the owed ones (failed or cancelled, not yet released) without scanning history.

Revision ID: e5b8c1d3f003
Revises: d7a2b9c4e002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from service_kit.db.types import UTCDateTime

revision: str = "e5b8c1d3f003"
down_revision: str | None = "d7a2b9c4e002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("orders", sa.Column("release_claimed_until", UTCDateTime(), nullable=True))
    op.create_index(op.f("ix_orders_status_released_at"), "orders", ["status", "released_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_status_released_at"), table_name="orders")
    op.drop_column("orders", "release_claimed_until")
