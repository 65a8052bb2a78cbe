"""`make bench`: throughput, latency and memory of the real fleet (two replicas of each service behind nginx,
MariaDB), measured with wrk through the gateway. Every figure is also printed as a fraction of the ceiling,
a bare nginx `return 200` measured in the same run, since the machine is shared and noisy. It prints
figures and the targets of issue 9 beside them; it fails only if the order run left the stock inexact.

    python -m tests.load [--seconds 20] [--warmup 5] [--connections 32]
"""

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.load import recovery
from tests.load.wrk import Result, Scenario, require_wrk, run
from tests.support import mariadb
from tests.support.fleet import RunningFleet, running_fleet
from tests.support.users import Account, login, signed_up

PRODUCTS, ORDERS = "/api/v0/products", "/api/v0/orders"
CATALOGUE_SIZE = 100
HOT_STOCK = 1_000_000_000
RSS_TARGET_MIB = 80.0


@dataclass(frozen=True)
class Target:
    """A scenario's goal as a fraction of the ceiling (None: a figure to read, no target)."""

    scenario: Scenario
    fraction: float | None = None


@dataclass(frozen=True)
class Shop:
    hot_product_id: int
    shopper: Account


def stocked_shop(fleet: RunningFleet) -> Shop:
    """A catalogue of CATALOGUE_SIZE products (the first one hot, with plenty of stock) and a shopper with
    one order, so every list has something to show."""
    with httpx.Client(base_url=fleet.gateway_url, timeout=30) as api:
        admin = login(api, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))
        ids = []
        for number in range(CATALOGUE_SIZE):
            body = {"name": f"bench lamp {number}", "description": "warm", "price": "19.99", "stock": HOT_STOCK}
            created = api.post(PRODUCTS, json=body, headers=admin.headers)
            created.raise_for_status()
            ids.append(created.json()["id"])
        shopper = signed_up(api)
        api.post(ORDERS, json={"items": [{"product_id": ids[1], "quantity": 1}]}, headers=shopper.headers)
    return Shop(hot_product_id=ids[0], shopper=shopper)


def targets(shop: Shop) -> list[Target]:
    """What a shop does most, with issue 9's goals: read the catalogue, check who it is, place orders."""
    bearer = (("Authorization", f"Bearer {shop.shopper.access_token}"),)
    json_body = (("Content-Type", "application/json"),)
    order = f'{{"items": [{{"product_id": {shop.hot_product_id}, "quantity": 1}}]}}'
    login_body = f'{{"email": "{shop.shopper.email}", "password": "{shop.shopper.password}"}}'
    product = f"{PRODUCTS}/{shop.hot_product_id}"
    return [
        Target(Scenario("GET /api/v0/products/{id}   (P1)", product), 0.046),
        Target(Scenario("GET /api/v0/products/{id}, 304", product, headers=(("If-None-Match", '"1"'),))),
        Target(Scenario("GET /api/v0/products?limit=100  (P2)", f"{PRODUCTS}?limit=100"), 0.015),
        Target(Scenario("GET /api/v0/auth/me", "/api/v0/auth/me", headers=bearer)),
        Target(Scenario("GET /api/v0/orders (first page)", ORDERS, headers=bearer)),
        Target(
            Scenario("POST /api/v0/orders, one hot product  (P3)", ORDERS, "POST", order, bearer + json_body), 0.0065
        ),
        Target(Scenario("POST /api/v0/auth/login (argon2id)", "/api/v0/auth/login", "POST", login_body, json_body)),
    ]


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stock_is_exact(fleet: RunningFleet, product_id: int) -> bool:
    """Units the hot product lost == units its confirmed orders hold; prints both."""
    names = fleet.database_names
    with mariadb.connect(names["PRODUCTS_DB_NAME"]) as products, products.cursor() as cursor:
        cursor.execute("SELECT stock FROM products WHERE id = %s", (product_id,))
        stock = _only_value(cursor.fetchone())
    with mariadb.connect(names["ORDERS_DB_NAME"]) as orders, orders.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(l.quantity), 0) FROM order_lines l JOIN orders o ON o.id = l.order_id"
            " WHERE o.status = 'confirmed' AND l.product_id = %s",
            (product_id,),
        )
        confirmed = _only_value(cursor.fetchone())
    taken = HOT_STOCK - stock
    print(f"\nhot product: {taken} units taken, {confirmed} units in confirmed orders")
    return taken == confirmed


def _only_value(row: tuple[int] | None) -> int:
    assert row is not None
    return int(row[0])


def report(ceiling: Result, results: list[tuple[Target, Result]], fleet: RunningFleet) -> None:
    header = f"{'scenario':46} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'ceiling':>8} {'target':>7}"
    print(f"\n{header}")
    print(
        f"{'gateway /healthz: nginx return 200 (ceiling)':46} {ceiling.per_second:8.0f} {ceiling.p50_ms:7.1f} "
        f"{ceiling.p99_ms:7.1f} {ceiling.non_2xx + ceiling.socket_errors:6d}"
    )
    for target, r in results:
        errors = r.non_2xx + r.socket_errors
        fraction = r.per_second / ceiling.per_second
        goal = "" if target.fraction is None else f"{target.fraction:.2%}"
        mark = "" if target.fraction is None else (" ok" if fraction >= target.fraction else " MISS")
        print(
            f"{r.scenario:46} {r.per_second:8.0f} {r.p50_ms:7.1f} {r.p99_ms:7.1f} {errors:6d} {fraction:8.2%} "
            f"{goal:>7}{mark}"
        )
    print(f"\nresident memory after the load (MiB, target <= {RSS_TARGET_MIB:.0f}):")
    for program in fleet.config.programs:
        pid = fleet.pid(program)
        if pid and program != "gateway":
            rss = rss_mib(pid)
            print(f"  {program:10} {rss:6.1f}{'' if rss <= RSS_TARGET_MIB else '  MISS'}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__)
    parser.add_argument("--seconds", type=int, default=20, help="measured, per scenario")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured load before each scenario")
    parser.add_argument("--connections", type=int, default=32, help="open connections wrk keeps busy")
    args = parser.parse_args()
    require_wrk()
    load = {"seconds": args.seconds, "warmup": args.warmup, "connections": args.connections}
    with tempfile.TemporaryDirectory(prefix="bench-") as state, running_fleet(Path(state)) as fleet:
        print(
            f"fleet up at {fleet.gateway_url}: 2 replicas each, MariaDB, rate limits off; "
            f"wrk -t2 -c{args.connections} -d{args.seconds}s after {args.warmup} s of warm-up"
        )
        print("a killed replica's recovery, quiet fleet:")
        for measured in recovery.measure(fleet):
            print(measured.line(), flush=True)
        shop = stocked_shop(fleet)
        ceiling = run(fleet.gateway_url, Scenario("ceiling", "/healthz"), **load)
        results = []
        for target in targets(shop):
            results.append((target, run(fleet.gateway_url, target.scenario, **load)))
            print(f"  done: {target.scenario.name}", flush=True)
        report(ceiling, results, fleet)
        if not stock_is_exact(fleet, shop.hot_product_id):
            sys.exit("the order run left the stock inexact")


if __name__ == "__main__":
    main()
