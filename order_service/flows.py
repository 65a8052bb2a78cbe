"""Order placement, cancellation and reconciliation: flows that span two services.

Each state change is its own unit of work (`Database.run`), committed *before* the HTTP call that follows
it, so a replica that dies between any two steps leaves a row that says what is owed, and the reconciler
finishes the job. The states and what the product service holds:

    pending    (maybe holds stock)  -> confirmed (holds it)   by placement, after reserve succeeded
                                    -> failed    (release owed unless nothing was taken)
    confirmed                       -> cancelled (release owed)
    failed / cancelled with released_at set: holds nothing.
"""

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import partial

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from order_service import metrics, repository, service
from order_service.clients.product import ProductClient, Reservation
from order_service.exceptions import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    OrderNotCancellable,
    OrderNotFound,
    OutOfStock,
    ProductBusy,
    ProductFailed,
    ProductRefused,
    ProductRejected,
    ProductUnavailable,
)
from order_service.limits import OrderLimits
from order_service.models import Order, OrderStatus
from order_service.repository import Placement
from order_service.schemas import OrderCreate
from service_kit.auth import Principal
from service_kit.db.types import utcnow
from service_kit.db.unit_of_work import Database

log = structlog.get_logger(__name__)

CENT = Decimal("0.01")
_REPLAY_POLL_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Placed:
    order: Order | Placement  # the first order (a replay), or the one this request placed
    created: bool  # False: an Idempotency-Key replay answered with the first order


async def place_order(
    database: Database,
    products: ProductClient,
    *,
    caller: Principal,
    order_in: OrderCreate,
    idempotency_key: str | None,
    replay_wait_seconds: float,
    limits: OrderLimits,
) -> Placed:
    """Persist the order pending, reserve its stock over HTTP, then confirm it with the product service's
    names and prices. Past a business limit: 422, nothing written. Out of stock or an unknown product: the
    order fails holding nothing. No answer from the product service: fail with the release owed (the
    reconciler delivers it), 503."""
    limits.check(order_in)
    quantities = {line.product_id: line.quantity for line in order_in.items}
    fingerprint = hashlib.sha256(json.dumps(order_in.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    order = await _start(
        database,
        user_id=caller.id,
        quantities=quantities,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        replay_wait_seconds=replay_wait_seconds,
        max_open_units=limits.max_open_units,
    )
    if isinstance(order, Order):
        return Placed(order, created=False)
    try:
        reservation = await products.reserve(order.reservation_key, quantities, user_id=caller.id)
    except (OutOfStock, ProductRejected, ProductRefused, ProductBusy) as refusal:
        # Refused, or never sent (no bulkhead slot): the product service holds nothing, and is owed nothing.
        await _fail(database, order.id, code=refusal.code, released=True)
        raise
    except ProductUnavailable:
        # Whatever the product service may hold for it is released by the reconciler once it answers again:
        # a release tried now would likely hang the same way, and the client is owed its 503 within 2 s.
        await _fail(database, order.id, code=ProductUnavailable.code, released=False)
        raise
    if reservation.released or not await _confirm(database, order, reservation):
        # The reconciler judged this placement abandoned and released it meanwhile: nothing is held.
        raise ProductUnavailable()
    return Placed(order, created=True)


async def cancel_order(database: Database, products: ProductClient, *, order_id: int, caller: Principal) -> Order:
    """Cancel a confirmed order and give its stock back exactly once; a cancelled order is returned as is."""

    async def cancel(session: AsyncSession) -> tuple[Order, bool]:
        order = await repository.get(session, order_id=order_id)
        if order is None or not (caller.is_admin or order.user_id == caller.id):
            raise OrderNotFound()
        return order, await repository.cancel(session, order_id=order_id)

    order, cancelled_now = await database.run(cancel)
    if not cancelled_now:
        # Already cancelled (perhaps by a concurrent call an instant ago) is an answer; anything else is not.
        order = await _reload(database, order_id)
        if order.status is not OrderStatus.CANCELLED:
            raise OrderNotCancellable(details={"status": order.status.value})
        return order
    await _try_release(database, products, order)
    return await _reload(database, order_id)


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What one reconciliation pass did."""

    abandoned: int  # pending placements failed, their release now owed
    released: int  # owed releases delivered
    deferred: int  # owed releases tried and left for a later pass


# This many owed releases in a row without an answer: the product service is away, and the pass ends.
_AWAY_AFTER = 3


async def reconcile(
    database: Database, products: ProductClient, *, pending_timeout: float, batch_size: int = 100, lease: float = 60.0
) -> Reconciled:
    """Settle what dead replicas and outages left behind, until nothing is left or the product service is
    away: fail placements abandoned while pending, then deliver every release still owed. Each replica
    claims the releases it delivers (for `lease` seconds), so replicas share the work; a release that keeps
    failing is skipped and tried again next pass, never blocking the ones behind it. Every step is
    conditional, and releases are idempotent by reservation key, so a lapsed claim costs a repeat, not harm."""
    abandoned = await _fail_abandoned(database, pending_timeout=pending_timeout, batch_size=batch_size)
    released, deferred = await _deliver_owed_releases(database, products, batch_size=batch_size, lease=lease)
    return Reconciled(abandoned=abandoned, released=released, deferred=deferred)


async def _fail_abandoned(database: Database, *, pending_timeout: float, batch_size: int) -> int:
    failed = 0
    while True:
        abandoned = await database.read(
            partial(repository.list_abandoned, pending_for=pending_timeout, limit=batch_size)
        )
        for order_id in abandoned:
            fail = partial(
                repository.fail, order_id=order_id, code="abandoned", released=False, pending_for=pending_timeout
            )
            if await database.run(fail):
                failed += 1
                metrics.ABANDONED_FAILED.inc()
                log.warning("order_abandoned", order_id=order_id)
        if len(abandoned) < batch_size:
            return failed


async def _deliver_owed_releases(
    database: Database, products: ProductClient, *, batch_size: int, lease: float
) -> tuple[int, int]:
    released = 0
    unsettled: list[int] = []  # claimed by this pass and not released: free for anyone once it ends
    unanswered = 0
    try:
        while unanswered < _AWAY_AFTER:
            now = utcnow()
            claim = partial(
                repository.claim_release_owed, now=now, claimed_until=now + timedelta(seconds=lease), limit=batch_size
            )
            batch = await database.run(claim)
            if not batch:
                break
            for index, owed in enumerate(batch):
                if unanswered >= _AWAY_AFTER:
                    unsettled.extend(rest.order_id for rest in batch[index:])
                    break
                try:
                    await _release(database, products, order_id=owed.order_id, reservation_key=owed.reservation_key)
                except (ProductFailed, ProductRefused):
                    unanswered = 0  # the product service answered: this one order fails, the rest may not
                    unsettled.append(owed.order_id)
                except ProductUnavailable:
                    unanswered += 1
                    unsettled.append(owed.order_id)
                else:
                    unanswered = 0
                    released += 1
                    metrics.RELEASES_DELIVERED.inc()
    finally:
        await database.run(partial(repository.unclaim, order_ids=unsettled))
    if unsettled:
        log.warning("releases_deferred", count=len(unsettled), product_service_away=unanswered >= _AWAY_AFTER)
    return released, len(unsettled)


class Reconciler:
    """Runs `reconcile` at start-up and then every `interval` seconds, as a task on the event loop."""

    def __init__(
        self,
        database: Database,
        products: ProductClient,
        *,
        interval: float,
        pending_timeout: float,
        batch_size: int = 100,
        lease: float = 60.0,
    ):
        self._database = database
        self._products = products
        self._interval = interval
        self._pending_timeout = pending_timeout
        self._batch_size = batch_size
        self._lease = lease
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="order-reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            with structlog.contextvars.bound_contextvars(request_id=f"reconcile-{time.time_ns():x}"):
                try:
                    done = await reconcile(
                        self._database,
                        self._products,
                        pending_timeout=self._pending_timeout,
                        batch_size=self._batch_size,
                        lease=self._lease,
                    )
                    metrics.RECONCILER_PASSES.labels("ok").inc()
                    metrics.RELEASES_OWED.set(done.deferred)
                    if done.abandoned or done.released or done.deferred:
                        log.info("reconciled", abandoned=done.abandoned, released=done.released, deferred=done.deferred)
                except Exception:
                    metrics.RECONCILER_PASSES.labels("failed").inc()
                    log.exception("reconcile_failed")
            await asyncio.sleep(self._interval)


async def _start(
    database: Database,
    *,
    user_id: int,
    quantities: dict[int, int],
    idempotency_key: str | None,
    fingerprint: str,
    replay_wait_seconds: float,
    max_open_units: int,
) -> Placement | Order:
    """Insert the pending order (a Placement), or find the one this Idempotency-Key already made (an Order).
    The unique index on (user_id, idempotency_key) decides between concurrent first requests; a replay waits
    while the first is still pending."""
    deadline = time.monotonic() + replay_wait_seconds
    insert = partial(
        service.start_placement,
        user_id=user_id,
        quantities=quantities,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        max_open_units=max_open_units,
    )
    while True:
        try:
            return await database.run(insert)
        except IntegrityError:
            if idempotency_key is None:
                raise  # only the random reservation key can clash here: a 1-in-10^18 event, not worth a path
        find = partial(repository.get_by_idempotency_key, user_id=user_id, idempotency_key=idempotency_key)
        existing = await database.read(find)
        if existing is not None:
            if existing.request_fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            if existing.status is not OrderStatus.PENDING:
                return existing
        # Pending (the first request is still in flight), or just failed and freed: look again shortly.
        if time.monotonic() >= deadline:
            raise IdempotencyInProgress()
        await asyncio.sleep(_REPLAY_POLL_SECONDS)


async def _confirm(database: Database, order: Placement, reservation: Reservation) -> bool:
    """Confirm the pending order with what the product service reserved; `order` then says what the
    database holds, without reading it back. False if the order was no longer pending."""
    prices = {line.product_id: (line.name, line.unit_price) for line in reservation.lines}
    total = sum((line.unit_price * line.quantity for line in reservation.lines), Decimal(0)).quantize(CENT)
    if not await database.run(partial(repository.confirm, order_id=order.id, prices=prices, total=total)):
        return False
    order.status, order.total = OrderStatus.CONFIRMED, total
    for line in order.lines:
        line.name, line.unit_price = prices[line.product_id]
    return True


async def _fail(database: Database, order_id: int, *, code: str, released: bool) -> None:
    await database.run(partial(repository.fail, order_id=order_id, code=code, released=released))


async def _try_release(database: Database, products: ProductClient, order: Order) -> bool:
    """Release now if the product service answers; otherwise the reconciler owes it. True if released."""
    try:
        await _release(database, products, order_id=order.id, reservation_key=order.reservation_key)
    except (ProductUnavailable, ProductRefused):
        log.warning("release_deferred", order_id=order.id)
        return False
    return True


async def _release(database: Database, products: ProductClient, *, order_id: int, reservation_key: int) -> None:
    """Have the product service give the stock back, then record that it did."""
    await products.release(reservation_key)
    await database.run(partial(repository.mark_released, order_id=order_id))


async def _reload(database: Database, order_id: int) -> Order:
    order = await database.read(partial(repository.get, order_id=order_id))
    assert order is not None
    return order
