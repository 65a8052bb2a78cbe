"""The product service's rules. Functions flush, never commit: the request's session commits (or rolls back).

No rule here reads a row to decide whether to write it. Each write is one conditional UPDATE; a row read
afterwards only explains a refusal (gone: 404; moved on: 412/409; short of stock: 409)."""

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import structlog
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from product_service import repository
from product_service.exceptions import (
    OutOfStock,
    ProductNotFound,
    ReservationMismatch,
    ReservationNotFound,
    UnknownProduct,
)
from product_service.models import Product, StockReservation
from product_service.preconditions import Precondition
from product_service.schemas import ProductCreate, ProductReplace, ProductUpdate, ReservationCreate
from service_kit.db import is_deadlock, utcnow
from service_kit.errors import DependencyUnavailable
from service_kit.pagination import id_from_cursor, keyset_page

log = structlog.get_logger(__name__)

T = TypeVar("T")

# A reservation races only with requests for the same order id; a few rounds always settle it.
_ATTEMPTS = 5
# Stock freed between our refused UPDATE and the read that explains it earns a fresh try.
_STOCK_ATTEMPTS = 3


def get(session: Session, *, product_id: int) -> Product:
    """The product; 404 if there is none."""
    product = repository.get(session, product_id=product_id)
    if product is None:
        raise ProductNotFound()
    return product


def list(
    session: Session, *, limit: int, cursor: str | None, name_contains: str | None
) -> tuple[Sequence[Product], str | None]:
    """A page of products in id order, and the cursor of the next page (None on the last)."""
    after_id = id_from_cursor(cursor) if cursor else None
    rows = repository.list(session, after_id=after_id, limit=limit + 1, name_contains=name_contains)
    return keyset_page(rows, limit=limit, id_of=lambda product: product.id)


def create(session: Session, *, product_in: ProductCreate) -> Product:
    """A new product at version 1."""
    return repository.create(
        session,
        name=product_in.name,
        description=product_in.description,
        price=product_in.price,
        stock=product_in.stock,
    )


def replace(session: Session, *, product_id: int, product_in: ProductReplace, precondition: Precondition) -> Product:
    """PUT: every field as given, if the product is still at the version the caller read."""
    values = product_in.model_dump(include={"name", "description", "price", "stock"})
    return _write(session, product_id=product_id, values=values, precondition=precondition)


def update(session: Session, *, product_id: int, product_in: ProductUpdate, precondition: Precondition) -> Product:
    """PATCH: the given fields, if the product is still at the version the caller read."""
    return _write(session, product_id=product_id, values=product_in.changes(), precondition=precondition)


def delete(session: Session, *, product_id: int, precondition: Precondition | None) -> None:
    """Delete the product (only at the version the caller read, if it said); 404 if there is none."""
    versions = None if precondition is None else precondition.versions
    if repository.delete(session, product_id=product_id, versions=versions):
        return
    current = repository.get(session, product_id=product_id)
    if current is None or precondition is None:
        raise ProductNotFound()
    raise precondition.stale(current.version)


def _write(session: Session, *, product_id: int, values: dict[str, Any], precondition: Precondition) -> Product:
    if repository.update(session, product_id=product_id, versions=precondition.versions, values=values):
        product = repository.get(session, product_id=product_id)
        assert product is not None  # this transaction holds the row's lock since its UPDATE
        return product
    current = repository.get(session, product_id=product_id)
    if current is None:
        raise ProductNotFound()
    raise precondition.stale(current.version)


def reserve(session: Session, *, reservation_in: ReservationCreate) -> tuple[StockReservation, bool]:
    """Take every line's stock for the order, or none of it; True if this call took it, False if the order id
    already had a reservation (which is returned as it is, nothing taken twice).

    The reservation row is the transaction's first write, and its unique order id serialises requests for the
    same order: a concurrent duplicate waits for the first, then fails on the index and reads the first's result.
    When this transaction loses such a race (duplicate or deadlock victim) it rolls back, which discards
    nothing because it has written nothing else, and tries again from the start."""
    quantities = reservation_in.quantities()

    def attempt() -> tuple[StockReservation, bool]:
        existing = repository.get_reservation(session, order_id=reservation_in.order_id)
        if existing is not None:
            _check_same_items(existing, quantities)
            return existing, False
        reservation = repository.create_reservation(session, order_id=reservation_in.order_id)
        # Ascending product ids: two orders sharing products lock them in the same order, so never deadlock.
        for product_id in sorted(quantities):
            _take_line(session, reservation=reservation, product_id=product_id, quantity=quantities[product_id])
        log.info("stock_reserved", order_id=reservation.order_id, lines=len(quantities))
        return reservation, True

    return _retrying(session, attempt)


def get_reservation(session: Session, *, order_id: int) -> StockReservation:
    """What the order holds (or held); 404 if it never reserved nor released anything."""
    reservation = repository.get_reservation(session, order_id=order_id)
    if reservation is None:
        raise ReservationNotFound()
    return reservation


def release(session: Session, *, order_id: int) -> StockReservation:
    """Give the order's stock back, exactly once however often this is called (each line bumps its product's
    version). For an order with no reservation it records a released, empty one, so a reservation arriving
    later (a retry, a delayed request) finds it and takes nothing."""

    def attempt() -> StockReservation:
        now = utcnow()
        if repository.mark_released(session, order_id=order_id, now=now):
            reservation = get_reservation(session, order_id=order_id)
            for line in sorted(reservation.lines, key=lambda line: line.product_id):
                if not repository.return_stock(session, product_id=line.product_id, quantity=line.quantity):
                    log.info("released_stock_of_deleted_product", order_id=order_id, product_id=line.product_id)
            log.info("stock_released", order_id=order_id, lines=len(reservation.lines))
            return reservation
        existing = repository.get_reservation(session, order_id=order_id)
        if existing is not None:
            return existing  # released before
        log.info("released_before_reserved", order_id=order_id)
        return repository.create_reservation(session, order_id=order_id, released_at=now)

    return _retrying(session, attempt)


def _take_line(session: Session, *, reservation: StockReservation, product_id: int, quantity: int) -> None:
    for _ in range(_STOCK_ATTEMPTS):
        if repository.take_stock(session, product_id=product_id, quantity=quantity):
            product = repository.get(session, product_id=product_id)
            assert product is not None  # this transaction holds the row's lock since its UPDATE
            repository.add_reservation_line(
                session,
                reservation=reservation,
                product_id=product_id,
                quantity=quantity,
                name=product.name,
                unit_price=product.price,
            )
            return
        product = repository.get(session, product_id=product_id)
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


def _retrying(session: Session, attempt: Callable[[], T]) -> T:
    for _ in range(_ATTEMPTS):
        try:
            return attempt()
        except IntegrityError:
            session.rollback()  # a concurrent request for the same order id committed first; read its result
        except OperationalError as exc:
            if not is_deadlock(exc):
                raise
            session.rollback()  # chosen as a deadlock victim while waiting on the same order id
            log.warning("reservation_deadlock_retried")
    raise DependencyUnavailable("The reservation could not settle; try again.")
