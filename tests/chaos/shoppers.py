"""The workload: shoppers reading the catalogue and their orders, placing orders with an Idempotency-Key,
replaying and cancelling them, and restocking with If-Match, each from its own thread and its own seeded
random stream. A write that gets no usable answer is resent as a client would (same key, same If-Match)
until it settles; every attempt is journalled."""

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx

from tests.chaos.journal import CANCEL, ORDER, REPLAY, RESTOCK, Call, Journal, Write, now
from tests.support.users import Account

PRODUCTS, ORDERS = "/api/v0/products", "/api/v0/orders"
# Long enough to outwait the stall (a frozen product service answers reads late, not never).
TIMEOUT = httpx.Timeout(60.0, connect=5.0)
OPERATIONS = {"read": 50, ORDER: 28, REPLAY: 6, CANCEL: 6, RESTOCK: 10}


@dataclass(slots=True)
class Placed:
    order_id: int
    key: str
    body: dict[str, Any]
    lines: dict[int, int]


@dataclass
class Ledger:
    """What clients were told: the orders acknowledged (201/200), those they cancelled, restocks applied."""

    placed: dict[int, Placed] = field(default_factory=dict)
    cancelled: set[int] = field(default_factory=set)
    restocked: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, update: Callable[["Ledger"], None]) -> None:
        with self._lock:
            update(self)


def _unexpected(seen: str, ledger: Ledger) -> None:
    ledger.unexpected.append(seen)


class Shopper:
    def __init__(
        self,
        index: int,
        *,
        gateway_url: str,
        account: Account,
        admin: Account,
        product_ids: list[int],
        restocks: list[int],
        journal: Journal,
        ledger: Ledger,
        seed: int,
        until: float,
        max_requests: int,
        settle_seconds: float,
        weights: dict[str, int] | None = None,
    ) -> None:
        self._index = index
        self._weights = weights or OPERATIONS
        self._url = gateway_url
        self._headers = account.headers
        self._admin_headers = admin.headers
        self._products = product_ids
        self._restocks = restocks
        self._journal = journal
        self._ledger = ledger
        self._rng = random.Random(seed)
        self._until = until
        self._max_requests = max_requests
        self._settle_seconds = settle_seconds
        self._mine: list[Placed] = []
        self._count = 0
        self.thread = threading.Thread(target=self._run, name=f"shopper-{index}", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        operations = {
            "read": self._read,
            ORDER: self._order,
            REPLAY: self._replay,
            CANCEL: self._cancel,
            RESTOCK: self._restock,
        }
        names, weights = list(self._weights), list(self._weights.values())
        try:
            with httpx.Client(base_url=self._url, timeout=TIMEOUT) as self._client:
                while now() < self._until and self._journal.requests < self._max_requests:
                    self._count += 1
                    operations[self._rng.choices(names, weights)[0]]()
        except BaseException as exc:  # reported by the verdict: a shopper that crashed hid what it saw
            self.error = exc

    # --- one request ----------------------------------------------------------------------------------

    def _send(self, kind: str, label: str, method: str, path: str, **kwargs: Any) -> tuple[Call, httpx.Response | None]:
        started = now()
        code = None
        try:
            response: httpx.Response | None = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            response, code = None, type(exc).__name__
        status = response.status_code if response is not None else 0
        if response is not None and status >= 400:
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = "not_an_envelope"
        return Call(kind, method, label, started, now(), status, code), response

    def _get(self, label: str, path: str) -> httpx.Response | None:
        call, response = self._send("read", label, "GET", path, headers=self._headers)
        self._journal.read(call)
        return response if call.status == 200 else None

    def _settle(
        self,
        write: Write,
        label: str,
        method: str,
        path: str,
        answer: Callable[[httpx.Response], bool],
        **kwargs: Any,
    ) -> httpx.Response | None:
        """Send until an answer settles the write (resending exactly the same request), at most for the
        settle budget. `answer` says whether a response is one this write expects."""
        deadline = now() + self._settle_seconds
        backoff = 0.2
        while True:
            call, response = self._send(write.kind, label, method, path, **kwargs)
            self._journal.attempt(write, call)
            if response is not None and not call.unsettled:
                write.settled = answer(response)
                if not write.settled:
                    self._ledger.record(partial(_unexpected, f"{method} {label}: {call.status} {call.code or ''}"))
                return response
            if now() >= deadline:
                return None
            time.sleep(backoff)  # a client's backoff before resending, not a wait on a condition
            backoff = min(backoff * 2, 2.0)

    # --- what shoppers do -----------------------------------------------------------------------------

    def _read(self) -> None:
        pick = self._rng.random()
        if pick < 0.4:
            self._get("/products/{id}", f"{PRODUCTS}/{self._rng.choice(self._products)}")
        elif pick < 0.6:
            self._get("/products?limit=20", f"{PRODUCTS}?limit=20")
        elif pick < 0.8 or not self._mine:
            self._get("/orders", ORDERS)
        else:
            self._get("/orders/{id}", f"{ORDERS}/{self._rng.choice(self._mine).order_id}")

    def _order(self) -> None:
        lines = {
            product: self._rng.randint(1, 3) for product in self._rng.sample(self._products, self._rng.randint(1, 2))
        }
        body = {"items": [{"product_id": product, "quantity": quantity} for product, quantity in lines.items()]}
        key = f"drill-{self._index}-{self._count}"
        write = self._journal.begin(ORDER)

        def expected(response: httpx.Response) -> bool:
            if response.status_code in (200, 201):
                return True
            return response.status_code == 409 and response.json()["error"]["code"] == "out_of_stock"

        response = self._settle(
            write,
            "POST /orders",
            "POST",
            ORDERS,
            expected,
            json=body,
            headers={**self._headers, "Idempotency-Key": key},
        )
        if write.settled and response is not None and response.status_code in (200, 201):
            placed = Placed(response.json()["id"], key, body, lines)
            self._mine.append(placed)
            self._ledger.record(lambda ledger: ledger.placed.__setitem__(placed.order_id, placed))

    def _replay(self) -> None:
        if not self._mine:
            return self._order()
        first = self._rng.choice(self._mine)
        write = self._journal.begin(REPLAY)
        self._settle(
            write,
            "POST /orders (replay)",
            "POST",
            ORDERS,
            lambda response: response.status_code == 200 and response.json()["id"] == first.order_id,
            json=first.body,
            headers={**self._headers, "Idempotency-Key": first.key},
        )
        return None

    def _cancel(self) -> None:
        open_orders = [placed for placed in self._mine if placed.order_id not in self._ledger.cancelled]
        if not open_orders:
            return self._read()
        victim = self._rng.choice(open_orders)
        write = self._journal.begin(CANCEL)
        self._settle(
            write,
            "POST /orders/{id}/cancel",
            "POST",
            f"{ORDERS}/{victim.order_id}/cancel",
            lambda response: response.status_code == 200 and response.json()["status"] == "cancelled",
            headers=self._headers,
        )
        if write.settled:
            self._ledger.record(lambda ledger: ledger.cancelled.add(victim.order_id))
        return None

    def _restock(self) -> None:
        """Read the product, then PATCH its stock up with If-Match; an unanswered attempt is resent with the
        same If-Match. A 412 then means an earlier attempt applied (its marker is in the description) or an
        order moved the version first (the marker is not): either way the write has settled."""
        if not self._restocks:
            return self._read()
        product_id = self._rng.choice(self._restocks)
        current = self._get("/products/{id}", f"{PRODUCTS}/{product_id}")
        if current is None:
            return None
        product = current.json()
        amount = self._rng.randint(5, 20)
        marker = f"restock {self._index}-{self._count}"
        write = self._journal.begin(RESTOCK)
        applied = False

        def expected(response: httpx.Response) -> bool:
            nonlocal applied
            if response.status_code == 200:
                applied = True
                return True
            if response.status_code != 412:
                return False
            check = None
            while check is None and now() < self._until + self._settle_seconds:
                check = self._get("/products/{id}", f"{PRODUCTS}/{product_id}")
            applied = check is not None and check.json()["description"] == marker
            return check is not None

        self._settle(
            write,
            "PATCH /products/{id}",
            "PATCH",
            f"{PRODUCTS}/{product_id}",
            expected,
            json={"stock": product["stock"] + amount, "description": marker},
            headers={**self._admin_headers, "If-Match": f'"{product["version"]}"'},
        )
        if applied:
            self._ledger.record(lambda ledger: ledger.restocked.update({product_id: amount}))
        return None
