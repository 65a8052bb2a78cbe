"""Stock reservations for the order service. Under /internal/, which the public gateway never routes, and only
for callers holding the service credential (`ServiceCaller`, applied where `router` is included): send
`X-Service-Token: <SERVICE_TOKEN>` (or `Authorization: Bearer <SERVICE_TOKEN>`); none: 401, wrong: 403.

Every call is idempotent by the reservation key the order service chose for the order (its
`orders.reservation_key`), so a caller that did not get an answer (timeout, 503, a dead replica) may simply send
the same call again:
- `POST /internal/reservations` takes the stock of every line or of none, once per reservation key;
- `GET /internal/reservations/{reservation_key}` says what the order holds, for reconciling an unknown outcome;
- `POST /internal/reservations/{reservation_key}/release` gives it back, once per reservation key.

A reservation body (`ReservationRead`) is `{reservation_key, order_id, status, items: [{product_id, name,
quantity, unit_price}], created_at, released_at}` (`order_id`: the key's former name, for the previous
release); `status` is `held` (the items' stock is taken) or `released` (given back, or never taken: see
release). `unit_price` is a decimal string with two places; `name` and `unit_price` are the product's
at the moment its stock was taken. Errors use the fleet's envelope `{"error": {"code", "message", "details",
"request_id"}}`."""

from collections.abc import Sequence
from functools import partial
from typing import Annotated

from fastapi import Depends, Request, Response, status

from product_service import metrics, service
from product_service.dependencies import ReservationKey
from product_service.exceptions import (
    OutOfStock,
    ReservationMismatch,
    ReservationNotFound,
    TotalTooLarge,
    UnknownProduct,
)
from product_service.schemas import ReservationCreate, ReservationRead
from service_kit.batching import Batcher
from service_kit.db.unit_of_work import Database, DatabaseDep
from service_kit.errors import Forbidden, error_responses
from service_kit.metrics import counting
from service_kit.routing import ServiceRouter

PREFIX = "/internal/reservations"

router = ServiceRouter(prefix=PREFIX, tags=["internal: stock reservations (order service only)"])

# A wrong service credential; a missing one is a 401, as on every operation with a credential.
_CREDENTIAL = error_responses(Forbidden)

# What one batch of reservations may hold: calls, and their lines in all (a call has at most 100).
MAX_BATCH_CALLS = 64
MAX_BATCH_LINES = 1_000


async def _reservations(request: Request) -> Batcher[ReservationCreate, service.Reserved]:
    """The replica's one batcher of reservation calls, made on first use."""
    state = request.app.state
    batcher: Batcher[ReservationCreate, service.Reserved] | None = getattr(state, "reservations", None)
    if batcher is None:
        database: Database = state.database

        async def apply(requests: Sequence[ReservationCreate]) -> Sequence[service.Reserved | Exception]:
            return await database.run(partial(service.reserve_batch, requests=requests))

        batcher = Batcher(apply, max_size=MAX_BATCH_CALLS, max_weight=MAX_BATCH_LINES, weight=lambda r: len(r.items))
        state.reservations = batcher
    return batcher


ReservationBatcher = Annotated[Batcher[ReservationCreate, service.Reserved], Depends(_reservations)]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ReservationRead,
    responses={
        **_CREDENTIAL,
        status.HTTP_201_CREATED: {"model": ReservationRead, "description": "This call took the stock."},
        status.HTTP_200_OK: {
            "model": ReservationRead,
            "description": "This reservation key reserved before: the first reservation, unchanged; nothing taken now. "
            "Its `status` may be `released` (then it holds nothing, and never will).",
        },
        **error_responses(
            OutOfStock,
            ReservationMismatch,
            UnknownProduct,
            TotalTooLarge,
            notes={
                409: "`out_of_stock` carries `details: {product_id, requested, available}`. Nothing was taken.",
                422: "`unknown_product` carries `{product_id}`, `total_too_large` `{total, max_total}` "
                "(9,999,999,999.99). Nothing was taken.",
            },
        ),
    },
)
async def create_reservation(
    reservations: ReservationBatcher, reservation_in: ReservationCreate, response: Response
) -> ReservationRead:
    """Reserve stock for an order: every line or none, in one transaction.

    Body: `{"reservation_key": int >= 1, "items": [{"product_id": int >= 1, "quantity": int >= 1}, ...]}` (1 to
    100 items; lines for the same product are added together; `order_id` is the key's former name, accepted
    too). 201 with the reservation when this call took the stock. Idempotent by `reservation_key`: a repeat
    (also one racing the first) returns the first result with 200 and takes nothing; a repeat after a release
    returns the released reservation, and so does a reservation for an order that was released before it ever
    reserved (then with no items).

    Calls that reach one replica together are applied together (a flash sale's orders for one product take
    its row's lock once per batch, not once per order), each answered exactly as if it had come alone."""
    with counting(metrics.RESERVATIONS, metrics.RESERVATION_REFUSALS, other="error"):
        reserved = await reservations.submit(reservation_in)
    metrics.RESERVATIONS.labels("reserved" if reserved.created else "repeated").inc()
    if not reserved.created:
        response.status_code = status.HTTP_200_OK
    return ReservationRead.of(reserved.reservation)


@router.get(
    "/{reservation_key}",
    response_model=ReservationRead,
    responses={**_CREDENTIAL, **error_responses(ReservationNotFound)},
)
async def get_reservation(database: DatabaseDep, reservation_key: ReservationKey) -> ReservationRead:
    """What the order holds: `held` with its items, or `released`. 404 when this reservation key never reserved nor
    released anything, which after a reserve call whose answer was lost means that call took nothing."""
    return ReservationRead.of(await database.read(partial(service.get_reservation, reservation_key=reservation_key)))


@router.post(
    "/{reservation_key}/release",
    response_model=ReservationRead,
    responses=_CREDENTIAL,
)
async def release_reservation(database: DatabaseDep, reservation_key: ReservationKey) -> ReservationRead:
    """Give the order's stock back: exactly once however often it is called, each product's `version` bumped.
    Always 200 with the reservation, now `released`.

    An reservation key with no reservation is not an error: it is recorded as released with no items, so that a
    reserve call for it still in flight (or retried later) takes nothing and answers `released`. A product
    deleted since the reservation gets nothing back (it no longer exists)."""
    released = await database.run(partial(service.release, reservation_key=reservation_key))
    metrics.RELEASES.inc()
    return ReservationRead.of(released)
