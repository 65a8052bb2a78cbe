"""The order endpoints of API.md. Thin: parse, call the flow (or run the service's read as one unit of
work), shape the response."""

from functools import partial
from typing import Annotated

from fastapi import Header, Path, Query, Response, status

from order_service import flows, metrics, service
from order_service.dependencies import ProductClientDep, SettingsDep
from order_service.exceptions import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    OrderNotCancellable,
    OrderNotFound,
    OutOfStock,
)
from order_service.schemas import OrderCreate, OrderRead
from service_kit.auth import CurrentUser
from service_kit.db.types import MAX_ID
from service_kit.db.unit_of_work import DatabaseDep
from service_kit.errors import Forbidden, error_responses
from service_kit.metrics import counting
from service_kit.pagination import Page
from service_kit.routing import ServiceRouter

PREFIX = "/api/v0/orders"

router = ServiceRouter(prefix=PREFIX, tags=["orders"])

OrderId = Annotated[int, Path(ge=1, le=MAX_ID, description="The order's id.")]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Replays with the same key and body return the first order and never take stock twice.",
    ),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=OrderRead,
    responses={
        200: {"model": OrderRead, "description": "An Idempotency-Key replay: the first order."},
        **error_responses(
            OutOfStock,
            IdempotencyInProgress,
            IdempotencyKeyReused,
            notes={
                409: "Nothing was taken.",
                422: "Or `order_limit_exceeded`: past a business limit (`details.limit`: `units_per_line`, "
                "`units_per_order` or `open_units_per_user`, `details.max`: its value; docs/configuration.md). "
                "Or a code of the product service, relayed: `unknown_product` (`details.product_id`), "
                "`total_too_large` (`details: {total, max_total}`). Nothing was taken.",
            },
        ),
    },
)
async def create_order(
    order_in: OrderCreate,
    caller: CurrentUser,
    database: DatabaseDep,
    products: ProductClientDep,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> OrderRead:
    with counting(metrics.PLACEMENTS, metrics.PLACEMENT_REFUSALS, other="error"):
        placed = await flows.place_order(
            database,
            products,
            caller=caller,
            order_in=order_in,
            idempotency_key=idempotency_key,
            replay_wait_seconds=settings.IDEMPOTENCY_WAIT_SECONDS,
            limits=settings.order_limits(),
        )
    metrics.PLACEMENTS.labels("confirmed" if placed.created else "replayed").inc()
    if not placed.created:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"{PREFIX}/{placed.order.id}"
    return OrderRead.model_validate(placed.order)


@router.get("", response_model=Page[OrderRead], responses=error_responses(Forbidden))
async def list_orders(
    database: DatabaseDep,
    caller: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    user_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Admins only: whose orders.")] = None,
) -> Page[OrderRead]:
    page = partial(service.list_orders, caller=caller, user_id=user_id, cursor=cursor, limit=limit)
    orders, next_cursor = await database.read(page)
    return Page[OrderRead](items=[OrderRead.model_validate(order) for order in orders], next_cursor=next_cursor)


@router.get("/{order_id}", response_model=OrderRead, responses=error_responses(OrderNotFound))
async def get_order(database: DatabaseDep, order_id: OrderId, caller: CurrentUser) -> OrderRead:
    return OrderRead.model_validate(await database.read(partial(service.get_order, order_id=order_id, caller=caller)))


@router.post(
    "/{order_id}/cancel", response_model=OrderRead, responses=error_responses(OrderNotFound, OrderNotCancellable)
)
async def cancel_order(
    order_id: OrderId, caller: CurrentUser, database: DatabaseDep, products: ProductClientDep
) -> OrderRead:
    return OrderRead.model_validate(await flows.cancel_order(database, products, order_id=order_id, caller=caller))
