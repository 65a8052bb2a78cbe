"""The product service's rules, as steps of a unit of work: they flush, never commit or roll back
(`service_kit.db.unit_of_work.Database.run`, called by the routes, owns the transaction).

No rule here reads a row to decide whether to write it, but a batch of reservations, which locks its
products' rows first. Each other write is one conditional UPDATE; a row read afterwards only explains a
refusal (gone: 404; moved on: 412/409)."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
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
from product_service.models import Product, StockReservation, StockReservationLine
from product_service.preconditions import Precondition
from product_service.repository import ProductView
from product_service.schemas import ProductCreate, ProductReplace, ProductUpdate, ReservationCreate
from service_kit.db.types import MAX_AMOUNT, utcnow
from service_kit.db.unit_of_work import transaction
from service_kit.errors import AppError
from service_kit.pagination import id_from_cursor, keyset_page

log = structlog.get_logger(__name__)


async def get_product(session: AsyncSession, *, product_id: int) -> ProductView:
    """The product; 404 if there is none."""
    product = await repository.view(session, product_id=product_id)
    if product is None:
        raise ProductNotFound()
    return product


async def list_products(
    session: AsyncSession, *, limit: int, cursor: str | None, name_contains: str | None
) -> tuple[Sequence[ProductView], str | None]:
    """A page of products in id order, and the cursor of the next page (None on the last)."""
    after_id = id_from_cursor(cursor) if cursor else None
    rows = await repository.view_page(session, after_id=after_id, limit=limit + 1, name_contains=name_contains)
    return keyset_page(rows, limit=limit, id_of=lambda product: product.id)


async def create_product(session: AsyncSession, *, product_in: ProductCreate) -> Product:
    """A new product at version 1."""
    return await repository.create(
        session,
        name=product_in.name,
        description=product_in.description,
        price=product_in.price,
        stock=product_in.stock,
    )


async def replace_product(
    session: AsyncSession, *, product_id: int, product_in: ProductReplace, precondition: Precondition
) -> Product:
    """PUT: every field as given, if the product is still at the version the caller read."""
    values = product_in.model_dump(include={"name", "description", "price", "stock"})
    return await _write(session, product_id=product_id, values=values, precondition=precondition)


async def update_product(
    session: AsyncSession, *, product_id: int, product_in: ProductUpdate, precondition: Precondition
) -> Product:
    """PATCH: the given fields, if the product is still at the version the caller read."""
    return await _write(session, product_id=product_id, values=product_in.changes(), precondition=precondition)


async def delete_product(session: AsyncSession, *, product_id: int, precondition: Precondition | None) -> None:
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


@dataclass(frozen=True, slots=True)
class Reserved:
    """A reservation call's answer: the order's reservation, and whether this call took its stock (else the
    reservation key had reserved, or been released, before)."""

    reservation: StockReservation
    created: bool


@transaction(retry_duplicates=True)
async def reserve_batch(session: AsyncSession, *, requests: Sequence[ReservationCreate]) -> list[Reserved | AppError]:
    """Decide a batch of reservations in arrival order, each exactly as if it had come alone, and write the
    ones that take stock together. Each answer is the request's own: `Reserved`, or the refusal it would have
    met alone (nothing taken for it). One locking read takes every product's row, in ascending id order; each
    reservation takes every line's stock or none; then one statement inserts the reservations, one their
    lines, and each product's stock is updated once. The answers come from this unit itself: nothing is read
    back after the commit.

    It repeats on a duplicate key: a reservation key another transaction inserted meanwhile fails the whole unit on
    the unique index, and the repeat finds that reservation and answers it as a repeat."""
    existing = await repository.reservations_of(
        session, reservation_keys={request.reservation_key for request in requests}
    )
    wanted = {
        product_id
        for request in requests
        if request.reservation_key not in existing
        for product_id in request.quantities()
    }
    products = await repository.lock_for_reserving(session, product_ids=wanted)
    stock = {product_id: product.stock for product_id, product in products.items()}
    now = utcnow()
    answers: list[Reserved | AppError] = []
    taking: dict[int, StockReservation] = {}  # reservation key -> the reservation this batch takes its stock for
    for request in requests:
        quantities = request.quantities()
        earlier = existing.get(request.reservation_key) or taking.get(request.reservation_key)
        if earlier is not None:
            answers.append(_repeat(earlier, quantities))
            continue
        try:
            lines = _lines_taken(quantities, products, stock)
        except AppError as refusal:
            answers.append(refusal)
            continue
        for line in lines:
            stock[line.product_id] -= line.quantity
        taking[request.reservation_key] = StockReservation(
            reservation_key=request.reservation_key, created_at=now, released_at=None, lines=lines
        )
        answers.append(Reserved(taking[request.reservation_key], created=True))
    if taking:
        await _write_taken(session, list(taking.values()), now=now)
    return answers


def _repeat(reservation: StockReservation, quantities: dict[int, int]) -> Reserved | AppError:
    """A repeat must ask for what the first asked; a released-before-reserved order has no lines to compare."""
    held = {line.product_id: line.quantity for line in reservation.lines}
    if reservation.lines and held != quantities:
        return ReservationMismatch(details={"reservation_key": reservation.reservation_key})
    return Reserved(reservation, created=False)


def _lines_taken(
    quantities: dict[int, int], products: dict[int, ProductView], stock: dict[int, int]
) -> list[StockReservationLine]:
    """The reservation's lines if every product exists with stock enough (checked in ascending id order, the
    first shortfall refused), and the order can hold its total; else the refusal, raised."""
    lines = []
    for product_id in sorted(quantities):
        product, quantity = products.get(product_id), quantities[product_id]
        if product is None:
            raise UnknownProduct(f"Product {product_id} does not exist.", details={"product_id": product_id})
        if stock[product_id] < quantity:
            raise OutOfStock(
                f"Product {product_id} has {stock[product_id]} in stock, {quantity} requested.",
                details={"product_id": product_id, "requested": quantity, "available": stock[product_id]},
            )
        lines.append(
            StockReservationLine(product_id=product_id, quantity=quantity, name=product.name, unit_price=product.price)
        )
    value = sum((line.quantity * line.unit_price for line in lines), Decimal(0))
    if value > MAX_AMOUNT:
        raise TotalTooLarge(details={"total": f"{value:.2f}", "max_total": f"{MAX_AMOUNT}"})
    return lines


async def _write_taken(session: AsyncSession, reservations: list[StockReservation], *, now: datetime) -> None:
    ids = await repository.insert_reservations(
        session, reservation_keys=[reservation.reservation_key for reservation in reservations], created_at=now
    )
    rows = [
        {
            "reservation_id": ids[reservation.reservation_key],
            "product_id": line.product_id,
            "quantity": line.quantity,
            "name": line.name,
            "unit_price": line.unit_price,
        }
        for reservation in reservations
        for line in reservation.lines
    ]
    await repository.insert_lines(session, lines=rows)
    taken: dict[int, tuple[int, int]] = {}  # product id -> (units, reservations)
    for reservation in reservations:
        for line in reservation.lines:
            units, changes = taken.get(line.product_id, (0, 0))
            taken[line.product_id] = (units + line.quantity, changes + 1)
    for product_id in sorted(taken):
        units, changes = taken[product_id]
        # The rows are locked since the batch read them, so the stock is what it decided on; were it not, the
        # whole unit rolls back rather than take less than it promised. (Not an assert: `python -O` would
        # drop the UPDATE with it.)
        if not await repository.take_stock(session, product_id=product_id, quantity=units, changes=changes):
            raise RuntimeError(f"product {product_id} changed under its row lock")
    log.info("stock_reserved", reservations=len(reservations), products=len(taken))


async def get_reservation(session: AsyncSession, *, reservation_key: int) -> StockReservation:
    """What the order holds (or held); 404 if it never reserved nor released anything."""
    reservation = await repository.get_reservation(session, reservation_key=reservation_key)
    if reservation is None:
        raise ReservationNotFound()
    return reservation


@transaction(retry_duplicates=True)
async def release(session: AsyncSession, *, reservation_key: int) -> StockReservation:
    """Give the order's stock back, exactly once however often this is called (each line bumps its product's
    version). For an order with no reservation it records a released, empty one, so a reservation arriving
    later (a retry, a delayed request) finds it and takes nothing. Like `reserve_batch` it repeats on a
    duplicate key: a release racing the order's first reservation repeats, and finds it.

    It decides on one locking read of the reservation: one being inserted is waited for, and what is held is
    released. (Deciding on an UPDATE that matched nothing and then reading again answered "released before"
    for a reservation committed in between, which kept its stock for good.)"""
    now = utcnow()
    reservation = await repository.get_reservation(session, reservation_key=reservation_key, lock=True)
    if reservation is None:
        log.info("released_before_reserved", reservation_key=reservation_key)
        return await repository.create_reservation(session, reservation_key=reservation_key, released_at=now)
    if reservation.released_at is not None:
        return reservation  # released before
    reservation.released_at = now
    for line in sorted(reservation.lines, key=lambda line: line.product_id):
        if not await repository.return_stock(session, product_id=line.product_id, quantity=line.quantity):
            log.info("released_stock_of_deleted_product", reservation_key=reservation_key, product_id=line.product_id)
    await session.flush()
    log.info("stock_released", reservation_key=reservation_key, lines=len(reservation.lines))
    return reservation
