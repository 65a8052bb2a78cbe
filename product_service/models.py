from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from service_kit.db.types import BigId, UTCDateTime, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {datetime: UTCDateTime()}


class Product(Base):
    """A catalogue entry. `version` grows by one with every change to the row, stock taken by orders included."""

    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_non_negative"),
        CheckConstraint("price > 0", name="price_positive"),
        # SQLite would otherwise hand a deleted product's id to the next one.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    description: Mapped[str] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    # BIGINT: releases give back what orders took whatever restocks came between, so stock can outgrow INT.
    stock: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockReservation(Base):
    """The stock one order holds. One row per reservation key, so a repeated reservation finds the first one;
    `released_at` is set once, by the release that gives the stock back. A release that arrives before any
    reservation leaves a row with no lines, so a late reservation for that order takes nothing."""

    __tablename__ = "stock_reservations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The reservation key the order service chose for the order (orders.reservation_key); the unique
    # index is what makes reservations idempotent. The column keeps its first name, `order_id`, until a
    # release whose previous one no longer reads it renames it (migrations stay compatible with the code
    # still serving during a rollout): `key` gives it its one name everywhere in the code.
    reservation_key: Mapped[int] = mapped_column("order_id", BigInteger, unique=True, key="reservation_key")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_at: Mapped[datetime | None]

    lines: Mapped[list["StockReservationLine"]] = relationship(
        order_by="StockReservationLine.product_id", lazy="selectin"
    )


class StockReservationLine(Base):
    """One product's part of a reservation, with the name and unit price it had when the stock was taken.
    `product_id` has no foreign key: a product may be deleted while orders that bought it live on."""

    __tablename__ = "stock_reservation_lines"
    __table_args__ = (
        UniqueConstraint("reservation_id", "product_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # The product service's own row id of the reservation (stock_reservations.id), not the order's key.
    reservation_id: Mapped[int] = mapped_column(BigId, ForeignKey("stock_reservations.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(BigId)
    quantity: Mapped[int]
    name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 2))
