"""All SQL of the product service. Every change to a product is one conditional statement whose WHERE decides
the race; the caller learns the verdict from the number of rows it matched."""

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Row, Select, Table, bindparam, insert, select
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from product_service.models import Product, StockReservation, StockReservationLine
from service_kit.db.types import utcnow
from service_kit.db.unit_of_work import rows_matched

# A product read for answering, not for changing: a plain row, with none of an ORM object's bookkeeping
# (which cost more than the query itself on the hottest reads). Its attributes are the columns'.
ProductView = Row[Any]
_products = cast(Table, Product.__table__)
# The names of a ProductView's values, in order (every read selects the whole table).
PRODUCT_COLUMNS = tuple(_products.columns.keys())
_lines = cast(Table, StockReservationLine.__table__)

# The hot reads' statements are built once, with bound parameters: building one per request and deriving its
# cache key was a large share of a read's CPU (docs/performance.md).
_READ = select(_products).where(_products.c.id == bindparam("product_id"))
_LIKE_ESCAPE = "/"


def _page_statement(*, after: bool, named: bool) -> Select[Any]:
    statement = select(_products).order_by(_products.c.id).limit(bindparam("limit"))
    if after:
        statement = statement.where(_products.c.id > bindparam("after_id"))
    if named:
        statement = statement.where(_products.c.name.ilike(bindparam("pattern"), escape=_LIKE_ESCAPE))
    return statement


_PAGES = {
    (after, named): _page_statement(after=after, named=named) for after in (False, True) for named in (False, True)
}


def _contains_pattern(text: str) -> str:
    """A LIKE pattern matching names that contain `text` literally (its % and _ are not wildcards)."""
    for special in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, _LIKE_ESCAPE + special)
    return f"%{text}%"


async def view(session: AsyncSession, *, product_id: int) -> ProductView | None:
    """The product as committed now, read only to answer (a row, not an ORM object)."""
    return (await session.execute(_READ, {"product_id": product_id})).one_or_none()


async def view_page(
    session: AsyncSession, *, after_id: int | None, limit: int, name_contains: str | None
) -> Sequence[ProductView]:
    """Up to `limit` products in id order after `after_id`, whose name contains `name_contains` (any case),
    as rows."""
    statement = _PAGES[after_id is not None, bool(name_contains)]
    parameters: dict[str, Any] = {"limit": limit, "after_id": after_id}
    if name_contains:
        parameters["pattern"] = _contains_pattern(name_contains)
    rows: Sequence[ProductView] = (await session.execute(statement, parameters)).all()
    return rows


async def get(session: AsyncSession, *, product_id: int) -> Product | None:
    """The product as an ORM object, to change it: as committed now (or as this transaction changed it), never a
    stale cached copy."""
    statement = select(Product).where(Product.id == product_id).execution_options(populate_existing=True)
    return (await session.scalars(statement)).one_or_none()


async def create(session: AsyncSession, *, name: str, description: str, price: Decimal, stock: int) -> Product:
    """Insert a product at version 1."""
    now = utcnow()
    product = Product(
        name=name, description=description, price=price, stock=stock, version=1, created_at=now, updated_at=now
    )
    session.add(product)
    await session.flush()
    return product


async def update(session: AsyncSession, *, product_id: int, versions: Collection[int], values: dict[str, Any]) -> bool:
    """Apply `values` and bump the version, only if the row is still at one of `versions`; False if it is not
    (or is gone)."""
    statement = (
        sql_update(Product)
        .where(Product.id == product_id, Product.version.in_(versions))
        .values(**values, version=Product.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return await rows_matched(session, statement) == 1


async def delete(session: AsyncSession, *, product_id: int, versions: Collection[int] | None) -> bool:
    """Delete the product (only at one of `versions`, when given); False if nothing matched."""
    statement = sql_delete(Product).where(Product.id == product_id)
    if versions is not None:
        statement = statement.where(Product.version.in_(versions))
    return await rows_matched(session, statement.execution_options(synchronize_session=False)) == 1


# A batch of reservations' statements, built once (see _READ).
_LOCK_FOR_RESERVING = (
    select(_products.c.id, _products.c.stock, _products.c.name, _products.c.price)
    .where(_products.c.id.in_(bindparam("product_ids", expanding=True)))
    .order_by(_products.c.id)
    .with_for_update()
)
_TAKE_STOCK = (
    sql_update(_products)
    .where(_products.c.id == bindparam("product_id"), _products.c.stock >= bindparam("quantity"))
    .values(
        stock=_products.c.stock - bindparam("quantity"),
        version=_products.c.version + bindparam("changes"),
        updated_at=bindparam("now", type_=_products.c.updated_at.type),
    )
)
_reservations = cast(Table, StockReservation.__table__)
_RESERVATIONS_OF = (
    select(StockReservation)
    .where(StockReservation.reservation_key.in_(bindparam("reservation_keys", expanding=True)))
    .execution_options(populate_existing=True)
)
_RESERVATION_IDS = select(_reservations.c.reservation_key.label("reservation_key"), _reservations.c.id).where(
    _reservations.c.reservation_key.in_(bindparam("reservation_keys", expanding=True))
)
_RESERVATION_OF = (
    select(StockReservation)
    .where(StockReservation.reservation_key == bindparam("reservation_key"))
    .execution_options(populate_existing=True)
)


async def lock_for_reserving(session: AsyncSession, *, product_ids: Collection[int]) -> dict[int, ProductView]:
    """The products (id, stock, name, price) as committed now, each row locked until the commit, taken in
    ascending id order by one statement: two batches sharing products lock them in the same order, so they
    never deadlock. A product that does not exist is absent."""
    if not product_ids:
        return {}
    # Typed as rows of any shape: the statement's own row type names its four columns.
    rows: Sequence[Any] = (await session.execute(_LOCK_FOR_RESERVING, {"product_ids": sorted(product_ids)})).all()
    return {row.id: row for row in rows}


async def take_stock(session: AsyncSession, *, product_id: int, quantity: int, changes: int) -> bool:
    """Take `quantity` if that much is there, adding `changes` (the reservations it serves) to the version;
    False if not (or the product is gone)."""
    parameters = {"product_id": product_id, "quantity": quantity, "changes": changes, "now": utcnow()}
    return await rows_matched(session, _TAKE_STOCK, parameters) == 1


async def reservations_of(session: AsyncSession, *, reservation_keys: Collection[int]) -> dict[int, StockReservation]:
    """The orders' reservations with their lines, as committed now, by reservation key."""
    found = await session.scalars(_RESERVATIONS_OF, {"reservation_keys": [*reservation_keys]})
    return {reservation.reservation_key: reservation for reservation in found}


async def insert_reservations(
    session: AsyncSession, *, reservation_keys: Sequence[int], created_at: datetime
) -> dict[int, int]:
    """Insert a held reservation per reservation key in one statement; their ids by reservation key. A key
    that exists (or that a concurrent transaction is inserting, which this waits for) raises IntegrityError."""
    rows = [{"reservation_key": reservation_key, "created_at": created_at} for reservation_key in reservation_keys]
    await session.execute(insert(_reservations), rows)
    inserted = await session.execute(_RESERVATION_IDS, {"reservation_keys": [*reservation_keys]})
    return {row.reservation_key: row.id for row in inserted}


async def insert_lines(session: AsyncSession, *, lines: Sequence[dict[str, Any]]) -> None:
    """Insert reservation lines ({reservation_id, product_id, quantity, name, unit_price}) in one statement."""
    await session.execute(insert(_lines), [*lines])


async def return_stock(session: AsyncSession, *, product_id: int, quantity: int) -> bool:
    """Give `quantity` back, bumping the version; False if the product is gone."""
    statement = (
        sql_update(Product)
        .where(Product.id == product_id)
        .values(stock=Product.stock + quantity, version=Product.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return await rows_matched(session, statement) == 1


async def get_reservation(
    session: AsyncSession, *, reservation_key: int, lock: bool = False
) -> StockReservation | None:
    """The order's reservation with its lines, as committed now; with `lock`, its row locked until the commit
    (a reservation another transaction is inserting is waited for, then read)."""
    statement = _RESERVATION_OF.with_for_update() if lock else _RESERVATION_OF
    return (await session.scalars(statement, {"reservation_key": reservation_key})).one_or_none()


async def create_reservation(
    session: AsyncSession, *, reservation_key: int, released_at: datetime | None = None
) -> StockReservation:
    """Insert the order's reservation; the unique reservation key raises IntegrityError if one exists (or is being
    inserted by a concurrent transaction, which this waits for)."""
    reservation = StockReservation(
        reservation_key=reservation_key, created_at=released_at or utcnow(), released_at=released_at, lines=[]
    )
    session.add(reservation)
    await session.flush()
    return reservation
