"""`make bench`: throughput, latency and memory of the real fleet (two replicas of each service behind nginx,
MariaDB), measured with wrk through the gateway. It prints figures; it never passes or fails on them.

    python -m tests.load [--seconds 10] [--connections 16]
"""

import argparse
import tempfile
from pathlib import Path

import httpx

from tests.load import recovery
from tests.load.wrk import Result, Scenario, require_wrk, run
from tests.support.fleet import RunningFleet, running_fleet
from tests.support.users import Account, login, signed_up

PRODUCTS, ORDERS = "/api/v0/products", "/api/v0/orders"


def scenarios(fleet: RunningFleet) -> list[Scenario]:
    """What a shop does most: read the catalogue, check who it is, place orders, log in."""
    with httpx.Client(base_url=fleet.gateway_url, timeout=30) as api:
        admin = login(api, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))
        shopper = signed_up(api)
        product = api.post(
            PRODUCTS,
            json={"name": "bench lamp", "description": "warm", "price": "19.99", "stock": 1_000_000_000},
            headers=admin.headers,
        ).json()
    bearer = (("Authorization", f"Bearer {shopper.access_token}"),)
    json_body = (("Content-Type", "application/json"),)
    order = f'{{"items": [{{"product_id": {product["id"]}, "quantity": 1}}]}}'
    login_body = f'{{"email": "{shopper.email}", "password": "{shopper.password}"}}'
    return [
        Scenario("gateway GET /healthz (nginx alone)", "/healthz"),
        Scenario("GET /api/v0/products/{id}", f"{PRODUCTS}/{product['id']}"),
        Scenario("GET /api/v0/products?limit=20", f"{PRODUCTS}?limit=20"),
        Scenario("GET /api/v0/auth/me (token + DB)", "/api/v0/auth/me", headers=bearer),
        Scenario("POST /api/v0/orders (order -> product)", ORDERS, "POST", order, bearer + json_body),
        Scenario("POST /api/v0/auth/login (argon2id)", "/api/v0/auth/login", "POST", login_body, json_body),
    ]


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def report(results: list[Result], fleet: RunningFleet) -> None:
    print(f"\n{'scenario':44} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for r in results:
        errors = r.non_2xx + r.socket_errors
        print(f"{r.scenario:44} {r.per_second:8.0f} {r.p50_ms:8.1f} {r.p90_ms:8.1f} {r.p99_ms:8.1f} {errors:7d}")
    print("\nresident memory after the load (MiB):")
    for program in fleet.config.programs:
        pid = fleet.pid(program)
        if pid and program != "gateway":
            print(f"  {program:10} {rss_mib(pid):6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__)
    parser.add_argument("--seconds", type=int, default=10, help="per scenario")
    parser.add_argument("--connections", type=int, default=16, help="open connections wrk keeps busy")
    args = parser.parse_args()
    require_wrk()
    with tempfile.TemporaryDirectory(prefix="bench-") as state, running_fleet(Path(state)) as fleet:
        print(f"fleet up at {fleet.gateway_url}: 2 replicas each, MariaDB, rate limits off; wrk -c{args.connections}")
        print("a killed replica's recovery, quiet fleet:")
        for measured in recovery.measure(fleet):
            print(measured.line(), flush=True)
        results = []
        for scenario in scenarios(fleet):
            results.append(run(fleet.gateway_url, scenario, seconds=args.seconds, connections=args.connections))
            print(f"  done: {scenario.name}")
        report(results, fleet)


if __name__ == "__main__":
    main()
