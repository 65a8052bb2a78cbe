"""The product service's rules, as steps of a unit of work: they flush, never commit or roll back
(`service_kit.database.Database.run`, called by the routes, owns the transaction).

No rule here reads a row to decide whether to write it. Each write is one conditional UPDATE; a row read
afterwards only explains a refusal (gone: 404; moved on: 412/409; short of stock: 409)."""

from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from product_service import repository
from product_service.exceptions import (
    OutOfStock,
    ProductNotFound,
    ReservationMismatch,
    ReservationNotFound,
    TotalTooLarge,
    UnknownProduct,
)
from product_service.models import Product, StockReservation
from product_service.preconditions import Precondition
from product_service.repository import ProductRow
from product_service.schemas import ProductCreate, ProductReplace, ProductUpdate, ReservationCreate
from service_kit.db import MAX_AMOUNT, utcnow
from service_kit.pagination import id_from_cursor, keyset_page

log = structlog.get_logger(__name__)

# Stock freed between our refused UPDATE and the read that explains it earns a fresh try.
_STOCK_ATTEMPTS = 3


async def get(session: AsyncSession, *, product_id: int) -> ProductRow:
    """The product; 404 if there is none."""
    product = await repository.read(session, product_id=product_id)
    if product is None:
        raise ProductNotFound()
    return product


async def list(
    session: AsyncSession, *, limit: int, cursor: str | None, name_contains: str | None
) -> tuple[Sequence[ProductRow], str | None]:
    """A page of products in id order, and the cursor of the next page (None on the last)."""
    after_id = id_from_cursor(cursor) if cursor else None
    rows = await repository.list(session, after_id=after_id, limit=limit + 1, name_contains=name_contains)
    return keyset_page(rows, limit=limit, id_of=lambda product: product.id)


async def create(session: AsyncSession, *, product_in: ProductCreate) -> Product:
    """A new product at version 1."""
    return await repository.create(
        session,
        name=product_in.name,
        description=product_in.description,
        price=product_in.price,
        stock=product_in.stock,
    )


async def replace(
    session: AsyncSession, *, product_id: int, product_in: ProductReplace, precondition: Precondition
) -> Product:
    """PUT: every field as given, if the product is still at the version the caller read."""
    values = product_in.model_dump(include={"name", "description", "price", "stock"})
    return await _write(session, product_id=product_id, values=values, precondition=precondition)


async def update(
    session: AsyncSession, *, product_id: int, product_in: ProductUpdate, precondition: Precondition
) -> Product:
    """PATCH: the given fields, if the product is still at the version the caller read."""
    return await _write(session, product_id=product_id, values=product_in.changes(), precondition=precondition)


async def delete(session: AsyncSession, *, product_id: int, precondition: Precondition | None) -> None:
    """Delete the product (only at the version the caller read, if it said); 404 if there is none."""
    versions = None if precondition is None else precondition.versions
    if await repository.delete(session, product_id=product_id, versions=versions):
        return
    current = await repository.get(session, product_id=product_id)
    if current is None or precondition is None:
        raise ProductNotFound()
    raise precondition.stale(current.version)


async def _write(
    session: AsyncSession, *, product_id: int, values: dict[str, Any], precondition: Precondition
) -> Product:
    if await repository.update(session, product_id=product_id, versions=precondition.versions, values=values):
        product = await repository.get(session, product_id=product_id)
        assert product is not None  # this transaction holds the row's lock since its UPDATE
        return product
    current = await repository.get(session, product_id=product_id)
    if current is None:
        raise ProductNotFound()
    raise precondition.stale(current.version)


async def reserve(session: AsyncSession, *, reservation_in: ReservationCreate) -> bool:
    """Take every line's stock for the order, or none of it; True if this call took it, False if the order id
    already had a reservation (nothing taken twice). Read the reservation after the commit
    (`get_reservation`): each product's row stays locked from its stock UPDATE to the commit, so this holds
    it for two statements per line, and nothing is read back meanwhile.

    The reservation row is the transaction's first write, and its unique order id serialises requests for the
    same order: a concurrent duplicate waits for the first, then fails on the index. Run it with
    `retry_duplicates`: the repeat reads the first's result (the failed attempt had written nothing else)."""
    quantities = reservation_in.quantities()
    existing = await repository.get_reservation(session, order_id=reservation_in.order_id)
    if existing is not None:
        _check_same_items(existing, quantities)
        return False
    reservation = await repository.create_reservation(session, order_id=reservation_in.order_id)
    # Ascending product ids: two orders sharing products lock them in the same order, so never deadlock.
    for product_id in sorted(quantities):
        await _take_line(session, reservation_id=reservation.id, product_id=product_id, quantity=quantities[product_id])
    # The order must be able to hold its total; refused here, the unit rolls back and nothing is taken.
    value = await repository.reservation_value(session, reservation_id=reservation.id)
    if value > MAX_AMOUNT:
        raise TotalTooLarge(details={"total": f"{value:.2f}", "max_total": f"{MAX_AMOUNT}"})
    log.info("stock_reserved", order_id=reservation.order_id, lines=len(quantities))
    return True


async def get_reservation(session: AsyncSession, *, order_id: int) -> StockReservation:
    """What the order holds (or held); 404 if it never reserved nor released anything."""
    reservation = await repository.get_reservation(session, order_id=order_id)
    if reservation is None:
        raise ReservationNotFound()
    return reservation


async def release(session: AsyncSession, *, order_id: int) -> StockReservation:
    """Give the order's stock back, exactly once however often this is called (each line bumps its product's
    version). For an order with no reservation it records a released, empty one, so a reservation arriving
    later (a retry, a delayed request) finds it and takes nothing. Run it with `retry_duplicates`, like
    `reserve`: a release racing the order's first reservation repeats, and finds it.

    It decides on one locking read of the reservation: one being inserted is waited for, and what is held is
    released. (Deciding on an UPDATE that matched nothing and then reading again answered "released before"
    for a reservation committed in between, which kept its stock for good.)"""
    now = utcnow()
    reservation = await repository.get_reservation(session, order_id=order_id, lock=True)
    if reservation is None:
        log.info("released_before_reserved", order_id=order_id)
        return await repository.create_reservation(session, order_id=order_id, released_at=now)
    if reservation.released_at is not None:
        return reservation  # released before
    reservation.released_at = now
    for line in sorted(reservation.lines, key=lambda line: line.product_id):
        if not await repository.return_stock(session, product_id=line.product_id, quantity=line.quantity):
            log.info("released_stock_of_deleted_product", order_id=order_id, product_id=line.product_id)
    await session.flush()
    log.info("stock_released", order_id=order_id, lines=len(reservation.lines))
    return reservation


async def _take_line(session: AsyncSession, *, reservation_id: int, product_id: int, quantity: int) -> None:
    for _ in range(_STOCK_ATTEMPTS):
        if await repository.take_stock(session, product_id=product_id, quantity=quantity):
            await repository.record_line(
                session, reservation_id=reservation_id, product_id=product_id, quantity=quantity
            )
            return
        product = await repository.get(session, product_id=product_id)
        if product is None:
            raise UnknownProduct(f"Product {product_id} does not exist.", details={"product_id": product_id})
        if product.stock < quantity:
            raise OutOfStock(
                f"Product {product_id} has {product.stock} in stock, {quantity} requested.",
                details={"product_id": product_id, "requested": quantity, "available": product.stock},
            )
    raise OutOfStock(
        f"Product {product_id} has too little stock for {quantity}.",
        details={"product_id": product_id, "requested": quantity, "available": None},
    )


def _check_same_items(reservation: StockReservation, quantities: dict[int, int]) -> None:
    """A repeat must ask for what the first asked; a released-before-reserved order has no lines to compare."""
    if not reservation.lines:
        return
    held = {line.product_id: line.quantity for line in reservation.lines}
    if held != quantities:
        raise ReservationMismatch(details={"order_id": reservation.order_id})
