"""The order service's rules, as units of work: who may see which order (from the verified token alone), and
what a placement may hold. The placement's steps across the product service are in order_service/flows.py."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from order_service import repository
from order_service.exceptions import OrderLimitExceeded, OrderNotFound
from order_service.repository import OrderView, Placement
from service_kit.auth import Principal
from service_kit.errors import Forbidden
from service_kit.pagination import id_from_cursor, keyset_page


async def get_order(session: AsyncSession, *, order_id: int, caller: Principal) -> OrderView:
    """The order, if the caller owns it or is an admin; 404 otherwise, so its existence is not revealed."""
    order = await repository.view(session, order_id=order_id)
    if order is None or not (caller.is_admin or order.user_id == caller.id):
        raise OrderNotFound()
    return order


async def list_orders(
    session: AsyncSession, *, caller: Principal, user_id: int | None, cursor: str | None, limit: int
) -> tuple[Sequence[OrderView], str | None]:
    """A page of the caller's orders newest first, and the next page's cursor; an admin may read anyone's
    (`user_id`) or everyone's (None)."""
    if not caller.is_admin:
        if user_id not in (None, caller.id):
            raise Forbidden("Only an admin may list another user's orders.")
        user_id = caller.id
    before_id = id_from_cursor(cursor) if cursor else None
    rows = await repository.view_page(session, user_id=user_id, before_id=before_id, limit=limit + 1)
    return keyset_page(rows, limit=limit, id_of=lambda order: order.id)


async def start_placement(
    session: AsyncSession,
    *,
    user_id: int,
    quantities: dict[int, int],
    idempotency_key: str | None,
    fingerprint: str,
    max_open_units: int,
) -> Placement:
    """The order, pending, and its units counted as the user's. IntegrityError when the user already used the
    key; OrderLimitExceeded (nothing kept: the unit rolls back) when the user would hold more than
    `max_open_units` units in pending and confirmed orders."""
    placement = await repository.insert_pending(
        session, user_id=user_id, quantities=quantities, idempotency_key=idempotency_key, fingerprint=fingerprint
    )
    units = sum(quantities.values())
    held = await repository.hold_units(session, user_id=user_id, units=units)
    if held > max_open_units:
        raise OrderLimitExceeded(
            details={"limit": "open_units_per_user", "max": max_open_units, "held": held - units, "units": units}
        )
    return placement
