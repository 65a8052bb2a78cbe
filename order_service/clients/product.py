"""The product service's /internal/ stock API, as the order service uses it: a pooled client with short
timeouts, the service credential and the caller's request id on every call, bounded retries (safe because
reserve and release are idempotent by order id), and a bulkhead that keeps a burst of orders queued here,
where waiting costs nothing, rather than at the product service, where it would turn into timeouts. The
bulkhead is shared fairly between users (service_kit/fairness.py): one user's flood of large orders delays
another user's order by at most one call in turn."""

import time
import uuid
from collections.abc import Hashable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, stop_before_delay, wait_exponential

from order_service.exceptions import (
    OutOfStock,
    ProductBusy,
    ProductFailed,
    ProductRefused,
    ProductRejected,
    ProductUnavailable,
)
from service_kit.auth import SERVICE_TOKEN_HEADER
from service_kit.fairness import FairSlots
from service_kit.metrics import dependency_call
from service_kit.outbound import tls_verification
from service_kit.tracing import propagation_headers

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ReservedLine:
    product_id: int
    name: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Reservation:
    """What the product service holds for an order; `released` means it holds nothing and never will."""

    reservation_key: int
    released: bool
    lines: list[ReservedLine]


# Each new connection reaches a replica chosen at random (DNS round robin in compose, a ClusterIP in
# Kubernetes), and a replica that just died still gets picked until it is noticed: five tries all meet the
# dead one about 1 time in 16 (three: 1 in 4, seen in make compose-test). The deadline bounds them all.
_ATTEMPTS = 5
# What a call is given at least, however long it waited for a slot; how often a waiter looks for one.
_MIN_CALL_SECONDS = 0.2
_SLOT_POLL_SECONDS = 0.05


class _TryAgain(ProductUnavailable):
    """No replica answered (the connection was lost, see _CONNECTION_LOST, or 502/503/504): another attempt may
    find one."""


# The replica was gone, or went while we spoke to it: refused, not taken in time, reset or closed under the
# request (a kept-alive connection to a replica killed a moment ago). Another attempt may reach a live one, and
# a repeat is safe: reserve and release are idempotent by order id. A read timeout is not here: a slow product
# service is not helped by more calls.
_CONNECTION_LOST = (httpx.NetworkError, httpx.ConnectTimeout, httpx.RemoteProtocolError)


class ProductClient:
    def __init__(
        self,
        base_url: str,
        *,
        service_token: str,
        connect_timeout: float,
        read_timeout: float,
        deadline: float,
        max_in_flight: int = 4,
        queue_timeout: float = 5.0,
        stall_timeout: float = 1.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._deadline = deadline
        self._slots = FairSlots(max_in_flight)
        self._queue_timeout = queue_timeout
        self._stall_timeout = stall_timeout
        # When the product service last answered anything: calls finishing is what makes queueing worth it.
        self._answered_at = time.monotonic()
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={SERVICE_TOKEN_HEADER: service_token},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
            verify=tls_verification(base_url),
            transport=transport,
        )

    @property
    def http(self) -> httpx.AsyncClient:
        """The client every call goes out on (tracing instruments it)."""
        return self._http

    async def reserve(
        self, reservation_key: int, quantities: dict[int, int], *, user_id: int | None = None
    ) -> Reservation:
        """Take stock for every line or none, in `user_id`'s turn of the bulkhead. Raises OutOfStock or
        ProductRejected when the product service said no (nothing taken), ProductUnavailable when its answer
        never came (outcome unknown)."""
        # The key goes under its former name, `order_id`, for one more release: a product replica of the
        # previous release, still serving during a rollout, refuses a field it does not know. The next release
        # sends `reservation_key`, which every product replica of this one accepts.
        items = [{"product_id": p, "quantity": q} for p, q in quantities.items()]
        body = {"order_id": reservation_key, "items": items}
        return _reservation(await self._call("POST", "/internal/reservations", json=body, turn_of=user_id))

    async def release(self, reservation_key: int) -> None:
        """Give back whatever the order holds, exactly once however often it is called. Delivered only when the
        answer says `released`: anything else (an older product replica's answer to a release that raced the
        reserve) raises ProductUnavailable, and the release stays owed."""
        answer = await self._call("POST", f"/internal/reservations/{reservation_key}/release")
        if answer.get("status") != "released":
            log.error("release_not_confirmed", reservation_key=reservation_key, status=answer.get("status"))
            raise ProductUnavailable()

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(
        self, method: str, path: str, json: dict[str, Any] | None = None, *, turn_of: Hashable = None
    ) -> dict[str, Any]:
        """One call, with a slot of the bulkhead. A burst queues for a slot as long as the product service keeps
        answering (up to the queue timeout); while it answers nothing (stalled), a caller waits at most the
        stall timeout, and the time it waited counts against its deadline: a placement answers within the
        deadline even when every slot is stuck."""
        started = time.monotonic()

        def give_up() -> bool:
            moment = time.monotonic()
            return (
                moment - started >= self._queue_timeout
                or moment - max(self._answered_at, started) >= self._stall_timeout
            )

        if not await self._slots.acquire(turn_of, give_up=give_up, poll_seconds=_SLOT_POLL_SECONDS):
            log.warning("product_service_busy", path=path)
            raise ProductBusy()
        try:
            unanswered_for = time.monotonic() - max(self._answered_at, started)
            deadline = max(self._deadline - unanswered_for, _MIN_CALL_SECONDS)
            return await self._call_with_retries(method, path, json, deadline)
        finally:
            self._slots.release()

    async def _call_with_retries(
        self, method: str, path: str, json: dict[str, Any] | None, deadline: float
    ) -> dict[str, Any]:
        started = time.monotonic()
        retrying = AsyncRetrying(
            # A read timeout is not retried: the product service is slow or stuck, and more calls add load.
            retry=retry_if_exception_type(_TryAgain),
            # A few quick tries find a live replica if there is one; never wait past the deadline.
            stop=stop_after_attempt(_ATTEMPTS) | stop_before_delay(deadline),
            wait=wait_exponential(multiplier=0.05, max=0.3),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                remaining = max(deadline - (time.monotonic() - started), 0.05)
                return await self._once(method, path, json, remaining)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _once(self, method: str, path: str, json: dict[str, Any] | None, budget: float) -> dict[str, Any]:
        headers = {"X-Request-ID": _request_id(), **propagation_headers()}
        timeout = self._http.timeout
        try:
            with dependency_call("product_service") as call:
                response = await self._http.request(
                    method,
                    path,
                    json=json,
                    headers=headers,
                    timeout=httpx.Timeout(min(timeout.read or budget, budget), connect=timeout.connect),
                )
                call.answered(response.status_code)
        except _CONNECTION_LOST as exc:
            log.warning("product_service_unreachable", path=path, error=type(exc).__name__)
            raise _TryAgain() from exc
        except httpx.HTTPError as exc:
            log.warning("product_service_timed_out", path=path, error=type(exc).__name__)
            raise ProductUnavailable() from exc
        self._answered_at = time.monotonic()
        if response.status_code in (429, 502, 503, 504):
            log.warning("product_service_error", path=path, status=response.status_code)
            raise _TryAgain()
        if response.status_code >= 500:
            log.error("product_service_failed", path=path, status=response.status_code)
            raise ProductFailed()
        if response.is_success:
            return dict(response.json()) if response.content else {}
        error = _error_of(response)
        if response.status_code == 409 and error.get("code") == OutOfStock.code:
            raise OutOfStock(error.get("message"), details=error.get("details"))
        if response.status_code == 422:
            raise ProductRejected(error.get("message"), details=error.get("details"), code=error.get("code"))
        # 401/403/404 here mean our own configuration is wrong: nothing was taken, and retrying cannot help.
        log.error("product_service_refused", path=path, status=response.status_code, code=error.get("code"))
        raise ProductRefused()


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        error = response.json().get("error", {})
    except ValueError:
        return {}
    return error if isinstance(error, dict) else {}


def _reservation(body: dict[str, Any]) -> Reservation:
    return Reservation(
        # A product replica of the previous release names the key only `order_id`.
        reservation_key=int(body["reservation_key"] if "reservation_key" in body else body["order_id"]),
        released=body["status"] == "released",
        lines=[
            ReservedLine(
                product_id=int(line["product_id"]),
                name=str(line["name"]),
                quantity=int(line["quantity"]),
                unit_price=Decimal(str(line["unit_price"])),
            )
            for line in body["items"]
        ],
    )


def _request_id() -> str:
    """The id of the request being served, so one id follows an order across services."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    return str(request_id) if request_id else uuid.uuid4().hex
