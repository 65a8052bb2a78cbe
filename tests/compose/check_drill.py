"""Containers killed under load: the chaos drill's shoppers (tests/chaos) read, order, replay, cancel and
restock through the compose gateway while one product and one order container are SIGKILLed. No GET may
fail, every write must settle by resending it, the stock invariant must hold exactly, and both containers
must come back, restarted by their restart policy, and healthy.

The kill is a crash: SIGKILL to the container's PID 1 from the host (Compose.crash)."""

import os
import random
import threading

import httpx
import pytest

from fleet.waiting import FleetError, answers, wait_until
from tests.chaos.drill import SETTLE_SECONDS, facts_of, stock_products, wait_settled
from tests.chaos.journal import Journal, Kill, now, wait_gone
from tests.chaos.shoppers import Ledger, Shopper
from tests.chaos.verdict import judge
from tests.compose.project import GATEWAY_URL, Compose, Container
from tests.support.users import Account, signed_up

SECONDS = float(os.environ.get("COMPOSE_DRILL_SECONDS", "40"))
CLIENTS = 6
PRODUCT_COUNT = 4
# Killed in turn, at a third and at two thirds of the drill.
VICTIMS = ("product-1", "order-2")
RESTART_TIMEOUT_SECONDS = 90.0


def crash(compose: Compose, service: str, journal: Journal) -> None:
    """Crash the container, then time its restart: to a new process, and to its first 200 on /readyz; then
    wait for the engine to call it healthy again."""
    before = compose.crash(service)
    index = journal.killed(Kill(service, now()))
    killed_at = journal.kills[index].at
    wait_gone(int(before.state["Pid"]))
    journal.gone(index, now() - killed_at)
    spawned, ready = wait_back(compose, before)
    journal.restarted(index, spawned - killed_at, ready - killed_at)
    compose.wait_healthy(service, timeout=RESTART_TIMEOUT_SECONDS)


def wait_back(compose: Compose, before: Container) -> tuple[float, float]:
    """Until the crashed container runs again and answers /readyz; when it ran, and when it answered."""
    spawned: list[float] = []

    def back(client: httpx.Client) -> bool:
        current = compose.restarted(before)
        if current is None:
            return False
        if not spawned:
            spawned.append(now())
        return answers(client, f"http://{current.address}:8000/readyz")

    with httpx.Client(timeout=1.0) as client:
        wait_until(lambda: back(client), timeout=RESTART_TIMEOUT_SECONDS, interval=0.1, what=f"{before.service} back")
    return spawned[0], now()


def test_clients_notice_nothing_while_containers_die(
    compose: Compose, gateway: httpx.Client, admin: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    product_ids = stock_products(gateway, admin, PRODUCT_COUNT)
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

    def orders(sql: str) -> list[list[str]]:
        return compose.sql(sql, database="ordersDB")

    try:
        wait_settled(orders)
    except FleetError as exc:
        problems.append(str(exc))

    verdict = judge(journal, ledger, facts_of(orders, GATEWAY_URL, product_ids, ledger), problems=problems)
    with capsys.disabled():
        print(f"\n{verdict.report()}")
    assert verdict.passed, verdict.report()
    assert len(journal.kills) == len(VICTIMS)
