"""One drill: a fleet of its own on MariaDB behind real nginx, the shoppers, the monkey, then settling and
the verdict. Seeded and bounded in time and requests; `Knobs` are its length and intensity."""

import random
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx

from fleet.waiting import FleetError, wait_until
from tests.chaos.journal import ORDER, Journal, now
from tests.chaos.monkey import Monkey
from tests.chaos.shoppers import PRODUCTS, TIMEOUT, Ledger, Shopper
from tests.chaos.verdict import Facts, Verdict, judge
from tests.support import mariadb
from tests.support.fleet import RunningFleet, running_fleet
from tests.support.users import Account, login, signed_up

INITIAL_STOCK = 200
# Long enough for the reconciler to fail a placement abandoned by a killed replica (15 s pending timeout,
# 5 s interval) and for a client to resend after it.
SETTLE_SECONDS = 120.0
# Extra shoppers that place orders only while the product service is frozen.
STALL_PROBES = 2


@dataclass(frozen=True)
class Knobs:
    seconds: float = 240.0
    clients: int = 16
    products: int = 12
    seed: int = 8
    kill_every: tuple[float, float] = (3.0, 6.0)
    stall_seconds: float = 4.0
    max_requests: int = 500_000


def run(knobs: Knobs, say: Callable[[str], None] = print) -> Verdict:
    with tempfile.TemporaryDirectory(prefix="chaos-") as state, running_fleet(Path(state)) as fleet:
        say(f"chaos: fleet up at {fleet.gateway_url}; {knobs}")
        return _drill(fleet, knobs, say)


def _drill(fleet: RunningFleet, knobs: Knobs, say: Callable[[str], None]) -> Verdict:
    rng = random.Random(knobs.seed)
    with httpx.Client(base_url=fleet.gateway_url, timeout=TIMEOUT) as api:
        admin = login(api, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))
        product_ids = stock_products(api, admin, knobs.products)
        shoppers_accounts = [signed_up(api) for _ in range(knobs.clients + STALL_PROBES)]

    journal, ledger = Journal(), Ledger()
    began = now()
    until = began + knobs.seconds

    def new_shopper(index: int, until: float, weights: dict[str, int] | None = None) -> Shopper:
        return Shopper(
            index,
            gateway_url=fleet.gateway_url,
            account=shoppers_accounts[index],
            admin=admin,
            product_ids=product_ids,
            restocks=product_ids[index :: knobs.clients] if index < knobs.clients else [],  # one writer each
            journal=journal,
            ledger=ledger,
            seed=rng.randrange(2**32),
            until=until,
            max_requests=knobs.max_requests,
            settle_seconds=SETTLE_SECONDS,
            weights=weights,
        )

    shoppers = [new_shopper(index, until) for index in range(knobs.clients)]

    def probe_the_stall(stall_ends: float) -> None:
        """Shoppers that only place orders, all through the stall: every one must be answered within 2 s."""
        for index in range(knobs.clients, knobs.clients + STALL_PROBES):
            probe = new_shopper(index, stall_ends, weights={ORDER: 1})
            shoppers.append(probe)
            probe.thread.start()

    monkey = Monkey(
        fleet,
        journal,
        random.Random(rng.randrange(2**32)),
        kill_every=knobs.kill_every,
        stall_seconds=knobs.stall_seconds,
        stall_at=began + knobs.seconds * 0.4,
        on_stall=probe_the_stall,
    )
    for shopper in shoppers:
        shopper.thread.start()
    monkey.start()
    threading.Event().wait(max(until - now(), 0))  # the drill's length
    monkey.stop()
    say(f"chaos: {len(journal.kills)} kills in {knobs.seconds:.0f} s; settling every write")
    for shopper in shoppers:
        shopper.thread.join(timeout=SETTLE_SECONDS + 60)

    problems = [f"shopper crashed: {shopper.error!r}" for shopper in shoppers if shopper.error is not None]
    problems += [f"shopper {s.thread.name} never finished" for s in shoppers if s.thread.is_alive()]
    if monkey.error is not None:
        problems.append(f"monkey failed: {monkey.error!r}")
    orders = partial(_orders_rows, fleet)
    try:
        wait_settled(orders)
    except FleetError as exc:
        problems.append(str(exc))
    return judge(journal, ledger, facts_of(orders, fleet.gateway_url, product_ids, ledger), problems=problems)


# The orders database, asked one SQL statement: its rows (however the caller reaches that database).
OrdersQuery = Callable[[str], Sequence[Sequence[object]]]
_SETTLED = (
    "SELECT (SELECT COUNT(*) FROM orders WHERE status = 'pending'), "
    "(SELECT COUNT(*) FROM orders WHERE status IN ('failed', 'cancelled') AND released_at IS NULL)"
)


def stock_products(api: httpx.Client, admin: Account, count: int) -> list[int]:
    """`count` new products with INITIAL_STOCK each; their ids."""
    body = {"description": "", "price": "9.99", "stock": INITIAL_STOCK}
    return [
        api.post(PRODUCTS, json={**body, "name": f"drill {n}"}, headers=admin.headers).json()["id"]
        for n in range(count)
    ]


def _orders_rows(fleet: RunningFleet, sql: str) -> Sequence[Sequence[object]]:
    with mariadb.connect(fleet.database_names["ORDERS_DB_NAME"]) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def wait_settled(orders: OrdersQuery) -> None:
    """Until no placement is pending and no release is owed: the reconciler has finished its work."""

    def settled() -> bool:
        [(pending, owed)] = orders(_SETTLED)
        return int(str(pending)) == int(str(owed)) == 0

    wait_until(settled, timeout=SETTLE_SECONDS, interval=0.5, what="every order to settle")


def facts_of(orders: OrdersQuery, gateway_url: str, product_ids: list[int], ledger: Ledger) -> Facts:
    """What the catalogue and the orders database say once everything settled."""
    with httpx.Client(base_url=gateway_url, timeout=TIMEOUT) as api:
        final = {product: api.get(f"{PRODUCTS}/{product}").json()["stock"] for product in product_ids}
    confirmed = orders(
        "SELECT l.product_id, SUM(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "WHERE o.status = 'confirmed' GROUP BY l.product_id"
    )
    [(pending, owed)] = orders(_SETTLED)
    every = {int(str(order_id)): str(status) for order_id, status in orders("SELECT id, status FROM orders")}
    return Facts(
        initial_stock=dict.fromkeys(product_ids, INITIAL_STOCK),
        final_stock=final,
        confirmed={int(str(product)): int(str(quantity)) for product, quantity in confirmed},
        pending=int(str(pending)),
        owed_releases=int(str(owed)),
        statuses={order_id: every.get(order_id, "missing") for order_id in ledger.placed},
    )
