"""All SQL of the order service."""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, Insert, Select, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from order_service.models import Order, OrderLine, OrderStatus, UserOpenUnits
from service_kit.db.types import DatabaseUtcNow, utcnow
from service_kit.db.unit_of_work import rows_matched

# Lines are updated as table rows: an ORM UPDATE given many parameter sets would mean "by primary key".
_lines = cast(Table, OrderLine.__table__)


@dataclass(frozen=True, slots=True)
class OrderView:
    """An order read for answering, not for changing: its columns and its lines as plain rows, with none of
    the ORM's per-object bookkeeping (which cost more than the queries on a page of orders)."""

    id: int
    user_id: int
    status: OrderStatus
    total: Decimal | None
    created_at: datetime
    lines: list[Any]  # rows of _LINE_COLUMNS


_orders = cast(Table, Order.__table__)
_VIEW_COLUMNS = (_orders.c.id, _orders.c.user_id, _orders.c.status, _orders.c.total, _orders.c.created_at)
_LINE_COLUMNS = (_lines.c.order_id, _lines.c.product_id, _lines.c.name, _lines.c.quantity, _lines.c.unit_price)


# The reads' statements are built once, with bound parameters: building them per request cost more than
# running them.
_READ = select(*_VIEW_COLUMNS).where(_orders.c.id == bindparam("order_id"))
_LINES_OF = (
    select(*_LINE_COLUMNS).where(_lines.c.order_id.in_(bindparam("order_ids", expanding=True))).order_by(_lines.c.id)
)


def _page_statement(*, of_user: bool, before: bool) -> Select[Any]:
    statement = select(*_VIEW_COLUMNS).order_by(_orders.c.id.desc()).limit(bindparam("limit"))
    if of_user:
        statement = statement.where(_orders.c.user_id == bindparam("user_id"))
    if before:
        statement = statement.where(_orders.c.id < bindparam("before_id"))
    return statement


_PAGES = {
    (of_user, before): _page_statement(of_user=of_user, before=before)
    for of_user in (False, True)
    for before in (False, True)
}


async def view(session: AsyncSession, *, order_id: int) -> OrderView | None:
    """The order and its lines, read only to answer (rows, not ORM objects), if there is such an order."""
    views = await _views(session, _READ, {"order_id": order_id})
    return views[0] if views else None


async def view_page(
    session: AsyncSession, *, user_id: int | None, before_id: int | None, limit: int
) -> list[OrderView]:
    """Newest first (ids only grow), from just below `before_id`; every user's when `user_id` is None."""
    statement = _PAGES[user_id is not None, before_id is not None]
    return await _views(session, statement, {"limit": limit, "user_id": user_id, "before_id": before_id})


async def _views(session: AsyncSession, statement: Select[Any], parameters: dict[str, Any]) -> list[OrderView]:
    orders = (await session.execute(statement, parameters)).all()
    if not orders:
        return []
    lines: dict[int, list[Any]] = {order.id: [] for order in orders}
    for line in await session.execute(_LINES_OF, {"order_ids": list(lines)}):
        lines[line.order_id].append(line)
    return [
        OrderView(order.id, order.user_id, order.status, order.total, order.created_at, lines[order.id])
        for order in orders
    ]


async def get(session: AsyncSession, *, order_id: int) -> Order | None:
    """The order as an ORM object, to change it, if there is such an order."""
    return await session.get(Order, order_id, populate_existing=True)


async def get_by_idempotency_key(session: AsyncSession, *, user_id: int, idempotency_key: str) -> Order | None:
    """The order this user placed with this key, if any."""
    statement = select(Order).where(Order.user_id == user_id, Order.idempotency_key == idempotency_key)
    return (await session.scalars(statement)).one_or_none()


# A placement's statements, built once (see _READ).
# `updated_at` is the database server's clock, never a replica's: the reconciler of any replica judges a
# pending order's age by it (list_abandoned), so no replica's clock running ahead fails a live placement.
_INSERT_ORDER = insert(_orders).values(updated_at=DatabaseUtcNow())
_INSERT_LINES = insert(_lines)
_CONFIRM = (
    update(_orders)
    .where(_orders.c.id == bindparam("order_id"), _orders.c.status == OrderStatus.PENDING)
    .values(
        status=OrderStatus.CONFIRMED,
        total=bindparam("order_total", type_=_orders.c.total.type),
        updated_at=DatabaseUtcNow(),
    )
)
_PRICE_LINE = (
    update(_lines)
    .where(_lines.c.order_id == bindparam("line_order"), _lines.c.product_id == bindparam("line_product"))
    .values(name=bindparam("line_name"), unit_price=bindparam("line_price", type_=_lines.c.unit_price.type))
)


@dataclass(slots=True)
class PlacedLine:
    product_id: int
    quantity: int
    name: str | None = None
    unit_price: Decimal | None = None


@dataclass(slots=True)
class Placement:
    """An order this request is placing: what the database holds for it, kept up to date by the placement
    itself (a confirm fills in prices and total) so that nothing is read back to answer."""

    id: int
    user_id: int
    reservation_key: int
    status: OrderStatus
    total: Decimal | None
    created_at: datetime
    lines: list[PlacedLine]


async def insert_pending(
    session: AsyncSession, *, user_id: int, quantities: dict[int, int], idempotency_key: str | None, fingerprint: str
) -> Placement:
    """Insert a pending order and its lines; IntegrityError if the user already used the key (or, about once
    in 10^18 inserts, if the random reservation key is taken)."""
    now = utcnow()
    reservation_key = secrets.randbits(63) or 1  # a positive BIGINT; a clash fails the unique index
    order = {
        "user_id": user_id,
        "reservation_key": reservation_key,
        "status": OrderStatus.PENDING,
        "idempotency_key": idempotency_key,
        "request_fingerprint": fingerprint,
        "created_at": now,
    }
    inserted = cast(CursorResult[Any], await session.execute(_INSERT_ORDER, order))
    order_id = int(inserted.lastrowid)
    lines = [PlacedLine(product_id, quantity) for product_id, quantity in quantities.items()]
    await session.execute(
        _INSERT_LINES,
        [{"order_id": order_id, "product_id": line.product_id, "quantity": line.quantity} for line in lines],
    )
    return Placement(order_id, user_id, reservation_key, OrderStatus.PENDING, None, now, lines)


_open_units = cast(Table, UserOpenUnits.__table__)
_HELD = select(_open_units.c.units).where(_open_units.c.user_id == bindparam("user_id"))
# The units an order holds, and its user: what fail and cancel give back to the user's count.
_ORDER_UNITS = (
    select(func.coalesce(func.sum(_lines.c.quantity), 0))
    .where(_lines.c.order_id == bindparam("order_id"))
    .scalar_subquery()
)
_ORDER_USER = select(_orders.c.user_id).where(_orders.c.id == bindparam("order_id")).scalar_subquery()
_GIVE_BACK_UNITS = (
    update(_open_units).where(_open_units.c.user_id == _ORDER_USER).values(units=_open_units.c.units - _ORDER_UNITS)
)


def _add_units(dialect: str) -> Insert:
    """INSERT the user's count, or add to it: one statement that also locks the row until the commit."""
    if dialect == "mysql":
        upsert = mysql.insert(_open_units)
        return upsert.on_duplicate_key_update(units=_open_units.c.units + upsert.inserted.units)
    upsert_sqlite = sqlite.insert(_open_units)
    return upsert_sqlite.on_conflict_do_update(
        index_elements=[_open_units.c.user_id], set_={"units": _open_units.c.units + upsert_sqlite.excluded.units}
    )


_ADD_UNITS = {dialect: _add_units(dialect) for dialect in ("mysql", "sqlite")}


async def hold_units(session: AsyncSession, *, user_id: int, units: int) -> int:
    """Add `units` to what the user holds, and say what the user holds now. The row stays locked until the
    transaction ends, so one user's placements are counted one at a time."""
    await session.execute(_ADD_UNITS[session.get_bind().dialect.name], {"user_id": user_id, "units": units})
    return int((await session.execute(_HELD, {"user_id": user_id})).scalar_one())


async def _give_back_units(session: AsyncSession, *, order_id: int) -> None:
    """The order no longer holds stock (failed or cancelled): its units leave its user's count."""
    await session.execute(_GIVE_BACK_UNITS, {"order_id": order_id})


async def confirm(
    session: AsyncSession, *, order_id: int, prices: dict[int, tuple[str, Decimal]], total: Decimal
) -> bool:
    """pending -> confirmed with the product service's names and prices; False if the order is no longer pending.
    Straight UPDATEs: nothing of the order is read back."""
    parameters = {"order_id": order_id, "order_total": total}
    if await rows_matched(session, _CONFIRM, parameters) != 1:
        return False
    await session.execute(
        _PRICE_LINE,
        [
            {"line_order": order_id, "line_product": product_id, "line_name": name, "line_price": price}
            for product_id, (name, price) in prices.items()
        ],
    )
    return True


async def fail(
    session: AsyncSession, *, order_id: int, code: str, released: bool, pending_for: float | None = None
) -> bool:
    """pending -> failed, freeing its Idempotency-Key so a retry can place the order anew. `released` says
    the product service holds nothing for it; otherwise the release is still owed. With `pending_for`,
    only an order pending for longer than that many seconds (abandoned) is failed. False if it was not pending."""
    now = utcnow()
    statement = update(Order).where(Order.id == order_id, Order.status == OrderStatus.PENDING)
    if pending_for is not None:
        statement = statement.where(Order.updated_at < DatabaseUtcNow(-pending_for))
    changes: dict[str, Any] = {
        "status": OrderStatus.FAILED,
        "failure_code": code,
        "idempotency_key": None,
        "updated_at": DatabaseUtcNow(),
    }
    if released:
        changes["released_at"] = now
    if await rows_matched(session, statement.values(**changes).execution_options(synchronize_session=False)) != 1:
        return False
    await _give_back_units(session, order_id=order_id)
    return True


async def cancel(session: AsyncSession, *, order_id: int) -> bool:
    """confirmed -> cancelled (its release still owed); False if it was not confirmed."""
    statement = (
        update(Order)
        .where(Order.id == order_id, Order.status == OrderStatus.CONFIRMED)
        .values(status=OrderStatus.CANCELLED, updated_at=DatabaseUtcNow())
        .execution_options(synchronize_session=False)
    )
    if await rows_matched(session, statement) != 1:
        return False
    await _give_back_units(session, order_id=order_id)
    return True


async def mark_released(session: AsyncSession, *, order_id: int) -> None:
    """The product service confirmed it gave the order's stock back."""
    await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.released_at.is_(None))
        .values(released_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def list_abandoned(session: AsyncSession, *, pending_for: float, limit: int = 100) -> Sequence[int]:
    """Ids of orders pending for more than `pending_for` seconds by the database's clock: their placement
    died midway."""
    statement = (
        select(Order.id)
        .where(Order.status == OrderStatus.PENDING, Order.updated_at < DatabaseUtcNow(-pending_for))
        .order_by(Order.id)
        .limit(limit)
    )
    return (await session.scalars(statement)).all()


@dataclass(frozen=True, slots=True)
class OwedRelease:
    order_id: int
    reservation_key: int


async def claim_release_owed(
    session: AsyncSession, *, now: datetime, claimed_until: datetime, limit: int
) -> Sequence[OwedRelease]:
    """Claim, until `claimed_until`, up to `limit` failed or cancelled orders whose stock the product service
    has not yet confirmed given back and that no live claim holds. Rows another replica is claiming at this
    instant are skipped (SKIP LOCKED), so two replicas never claim the same order."""
    statement = (
        select(Order.id, Order.reservation_key)
        .where(
            Order.status.in_([OrderStatus.FAILED, OrderStatus.CANCELLED]),
            Order.released_at.is_(None),
            or_(Order.release_claimed_until.is_(None), Order.release_claimed_until < now),
        )
        .order_by(Order.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    owed = [OwedRelease(order_id, reservation_key) for order_id, reservation_key in await session.execute(statement)]
    if owed:
        await session.execute(
            update(Order)
            .where(Order.id.in_([release.order_id for release in owed]))
            .values(release_claimed_until=claimed_until)
            .execution_options(synchronize_session=False)
        )
    return owed


async def unclaim(session: AsyncSession, *, order_ids: Sequence[int]) -> None:
    """Let any reconciler take these orders' owed releases again."""
    if order_ids:
        await session.execute(
            update(Order)
            .where(Order.id.in_(order_ids), Order.released_at.is_(None))
            .values(release_claimed_until=None)
            .execution_options(synchronize_session=False)
        )
