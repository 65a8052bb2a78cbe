"""Reading orders. Who may see what is decided here, from the verified token alone."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from order_service import repository
from order_service.exceptions import OrderNotFound
from order_service.repository import OrderView
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
