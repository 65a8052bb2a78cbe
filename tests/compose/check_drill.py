"""Containers killed under load: the chaos drill's shoppers (tests/chaos) read, order, replay, cancel and
restock through the compose gateway while one product and one order container are SIGKILLed. No GET may
fail, every write must settle by resending it, the stock invariant must hold exactly, and both containers
must come back, restarted by their restart policy, and healthy.

The kill is a crash: SIGKILL to the container's PID 1 from the host. `docker kill` would be the operator
stopping it, which the engine honours by not restarting it (restart: unless-stopped)."""

import os
import random
import signal
import threading

import httpx
import pytest

from fleet.waiting import FleetError, answers, wait_until
from tests.chaos.journal import Journal, Kill, now
from tests.chaos.shoppers import PRODUCTS, TIMEOUT, Ledger, Shopper
from tests.chaos.verdict import Facts, judge
from tests.compose.project import GATEWAY_URL, Compose
from tests.support.users import Account, signed_up

SECONDS = float(os.environ.get("COMPOSE_DRILL_SECONDS", "40"))
CLIENTS = 6
PRODUCT_COUNT = 4
INITIAL_STOCK = 200
# Killed in turn, at a third and at two thirds of the drill.
VICTIMS = ("product-1", "order-2")
# Long enough for the reconciler to fail a placement abandoned by a killed replica, and a resend after it.
SETTLE_SECONDS = 120.0
RESTART_TIMEOUT_SECONDS = 90.0


def crash(compose: Compose, service: str, journal: Journal) -> None:
    """SIGKILL the container's PID 1, then time its restart: to a new process, and to its first 200 on /readyz;
    then wait for the engine to call it healthy again."""
    before = compose.container(service)
    os.kill(int(before.state["Pid"]), signal.SIGKILL)
    index = journal.killed(Kill(service, now()))
    killed_at = journal.kills[index].at
    spawned: list[float] = []

    def back(client: httpx.Client) -> bool:
        current = compose.container(service)
        if not spawned:
            if current.facts["RestartCount"] == before.facts["RestartCount"] or not current.state["Running"]:
                return False
            spawned.append(now())
        return answers(client, f"http://{current.address}:8000/readyz")

    with httpx.Client(timeout=1.0) as client:
        wait_until(lambda: back(client), timeout=RESTART_TIMEOUT_SECONDS, interval=0.1, what=f"{service} back")
    journal.restarted(index, spawned[0] - killed_at, now() - killed_at)
    compose.wait_healthy(service, timeout=RESTART_TIMEOUT_SECONDS)


def orders_db(compose: Compose, query: str) -> list[list[str]]:
    return compose.sql(query, database="ordersDB")


def wait_settled(compose: Compose) -> None:
    def settled() -> bool:
        [[pending, owed]] = orders_db(
            compose,
            "SELECT (SELECT COUNT(*) FROM orders WHERE status = 'pending'), (SELECT COUNT(*) FROM orders "
            "WHERE status IN ('failed', 'cancelled') AND released_at IS NULL)",
        )
        return pending == owed == "0"

    wait_until(settled, timeout=SETTLE_SECONDS, interval=0.5, what="every order to settle")


def facts(compose: Compose, product_ids: list[int], ledger: Ledger) -> Facts:
    with httpx.Client(base_url=GATEWAY_URL, timeout=TIMEOUT) as api:
        final = {product: api.get(f"{PRODUCTS}/{product}").json()["stock"] for product in product_ids}
    confirmed = orders_db(
        compose,
        "SELECT l.product_id, SUM(l.quantity) FROM order_lines l JOIN orders o ON o.id = l.order_id "
        "WHERE o.status = 'confirmed' GROUP BY l.product_id",
    )
    [[pending]] = orders_db(compose, "SELECT COUNT(*) FROM orders WHERE status = 'pending'")
    [[owed]] = orders_db(
        compose, "SELECT COUNT(*) FROM orders WHERE status IN ('failed', 'cancelled') AND released_at IS NULL"
    )
    every = {int(order_id): status for order_id, status in orders_db(compose, "SELECT id, status FROM orders")}
    return Facts(
        initial_stock=dict.fromkeys(product_ids, INITIAL_STOCK),
        final_stock=final,
        confirmed={int(product): int(quantity) for product, quantity in confirmed},
        pending=int(pending),
        owed_releases=int(owed),
        statuses={order_id: every.get(order_id, "missing") for order_id in ledger.placed},
    )


def test_clients_notice_nothing_while_containers_die(
    compose: Compose, gateway: httpx.Client, admin: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    product_ids = [
        gateway.post(
            PRODUCTS,
            json={"name": f"drill {n}", "description": "", "price": "9.99", "stock": INITIAL_STOCK},
            headers=admin.headers,
        ).json()["id"]
        for n in range(PRODUCT_COUNT)
    ]
    accounts = [signed_up(gateway) for _ in range(CLIENTS)]
    journal, ledger = Journal(), Ledger()
    rng = random.Random(11)
    began = now()
    shoppers = [
        Shopper(
            index,
            gateway_url=GATEWAY_URL,
            account=accounts[index],
            admin=admin,
            product_ids=product_ids,
            restocks=product_ids[index::CLIENTS],  # one writer per product
            journal=journal,
            ledger=ledger,
            seed=rng.randrange(2**32),
            until=began + SECONDS,
            max_requests=200_000,
            settle_seconds=SETTLE_SECONDS,
        )
        for index in range(CLIENTS)
    ]
    for shopper in shoppers:
        shopper.thread.start()

    problems: list[str] = []
    for turn, victim in enumerate(VICTIMS, start=1):
        threading.Event().wait(max(began + SECONDS * turn / (len(VICTIMS) + 1) - now(), 0))
        try:
            crash(compose, victim, journal)
        except FleetError as exc:
            problems.append(str(exc))
    for shopper in shoppers:
        shopper.thread.join(timeout=SECONDS + SETTLE_SECONDS + 60)
    problems += [f"shopper crashed: {shopper.error!r}" for shopper in shoppers if shopper.error is not None]
    problems += [f"shopper {s.thread.name} never finished" for s in shoppers if s.thread.is_alive()]
    try:
        wait_settled(compose)
    except FleetError as exc:
        problems.append(str(exc))

    verdict = judge(journal, ledger, facts(compose, product_ids, ledger), problems=problems)
    with capsys.disabled():
        print(f"\n{verdict.report()}")
    assert verdict.passed, verdict.report()
    assert len(journal.kills) == len(VICTIMS)
