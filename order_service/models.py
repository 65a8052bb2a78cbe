from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, Enum, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from service_kit.db.types import BigId, UTCDateTime, exact_string, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {datetime: UTCDateTime()}


class OrderStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Order(Base):
    """An order and where it stands. Stock held at the product service is settled by `released_at`:
    a failed or cancelled order with `released_at` unset still has a release to deliver."""

    __tablename__ = "orders"
    __table_args__ = (
        # The key is scoped to the user; NULL (no key, or a failed attempt's freed key) never collides.
        UniqueConstraint("user_id", "idempotency_key"),
        Index(None, "user_id", "id"),
        Index(None, "status", "updated_at"),
        Index(None, "status", "released_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    # The key the product service files this order's stock under: random, not the id, so that a restored
    # or reset ordersDB handing out old ids again can never meet the reservations of the orders it lost.
    # Its column keeps its first name, `reservation_id`, until a later release renames it (migrations stay
    # compatible with the code still serving during a rollout): `key` gives it one name everywhere in the code.
    reservation_key: Mapped[int] = mapped_column("reservation_id", BigInteger, unique=True, key="reservation_key")
    status: Mapped[OrderStatus] = mapped_column(
        Enum(OrderStatus, native_enum=False, length=16, values_callable=lambda statuses: [s.value for s in statuses])
    )
    total: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    # Compared exactly (API.md): `aB3` and `Ab3` are two keys on MySQL too.
    idempotency_key: Mapped[str | None] = mapped_column(exact_string(255))
    request_fingerprint: Mapped[str] = mapped_column(String(64))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    released_at: Mapped[datetime | None]
    # A reconciler claims an owed release until then, so replicas share the work (see flows.reconcile).
    release_claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    lines: Mapped[list["OrderLine"]] = relationship(
        order_by="OrderLine.id", lazy="selectin", cascade="all, delete-orphan"
    )


class OrderLine(Base):
    """One product of an order; name and unit price are the product service's at the moment of the order."""

    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int]
    name: Mapped[str | None] = mapped_column(String(200))
    unit_price: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))


class UserOpenUnits(Base):
    """The units one user's pending and confirmed orders hold, kept by every step that starts or ends a hold
    (placement, fail, cancel) in that step's own transaction, so a placement checks the user's limit by
    raising this one row, which also makes that user's concurrent placements take turns."""

    __tablename__ = "user_open_units"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    units: Mapped[int] = mapped_column(BigInteger)
