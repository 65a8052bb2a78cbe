"""`make bench-floor`: what FastAPI itself allows on this machine, as fractions of the same ceiling `make bench`
uses. Two replicas of each app in tests/load/floor_apps.py (one route, nothing else) behind a bare nginx,
one product row in a throwaway MariaDB database, wrk exactly as `make bench` runs it. The fleet's own
figure for the same request is `make bench`'s P1 line; the gap between the two is what the fleet adds.

    python -m tests.load.floor [--seconds 20] [--warmup 5] [--connections 32]
"""

import argparse
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx

from fleet.nginx import nginx_command
from fleet.waiting import answers, wait_until
from tests.load.processes import deployed_python, rss_mib
from tests.load.wrk import Result, Scenario, require_wrk, run
from tests.support import mariadb

APPS = {
    "bare": "FastAPI, the row from memory",
    "driver": "FastAPI + one SELECT on asyncmy",
    "core": "FastAPI + one SELECT via SQLAlchemy Core",
}
_NGINX = """worker_processes auto;
pid {state}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {state}/body;
    proxy_temp_path {state}/proxy;
{upstreams}
    server {{
        listen 127.0.0.1:{port};
        location = /healthz {{ return 200 '{{"status":"ok"}}'; }}
{locations}
    }}
}}
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def product_database() -> Iterator[str]:
    """A throwaway database with the fleet's products columns and one row; its asyncmy URL."""
    with mariadb.throwaway_database("floor") as name:
        with mariadb.connect(name) as connection, connection.cursor() as cursor:
            cursor.execute(
                "CREATE TABLE products (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL,"
                " description TEXT NOT NULL, price DECIMAL(12, 2) NOT NULL, stock INT NOT NULL,"
                " version INT NOT NULL, created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL)"
            )
            cursor.execute(
                "INSERT INTO products (name, description, price, stock, version, created_at, updated_at)"
                " VALUES ('bench lamp 0', 'warm', 19.99, 1000000000, 1, NOW(6), NOW(6))"
            )
        password = f":{mariadb.PASSWORD}" if mariadb.PASSWORD else ""
        yield f"mysql+asyncmy://{mariadb.USER}{password}@{mariadb.HOST}:{mariadb.PORT}/{name}"


@contextmanager
def started(command: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class FloorApps:
    """The floor apps running: their nginx's URL, and each app's two replica processes."""

    gateway_url: str
    replicas: dict[str, list[subprocess.Popen[bytes]]]

    def path(self, app: str) -> str:
        """Where `app` answers P1's request behind the floor's nginx."""
        return f"/{app}/api/v0/products/1"

    def rss(self, app: str) -> str:
        return " ".join(f"{rss_mib(process.pid):.0f}" for process in self.replicas[app])


@contextmanager
def running_floor(python: str = sys.executable) -> Iterator[FloorApps]:
    """Two replicas of each floor app (run by `python`) behind a bare nginx, on a throwaway database; stopped
    on exit."""
    with ExitStack() as stack:
        state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="floor-")))
        env = {"FLOOR_DB_URL": stack.enter_context(product_database()), "PATH": "/usr/bin:/bin"}
        replicas: dict[str, list[subprocess.Popen[bytes]]] = {}
        upstreams, locations = [], []
        ports_of: dict[str, list[int]] = {}
        for app in APPS:
            ports = ports_of[app] = [free_port(), free_port()]
            servers = " ".join(f"server 127.0.0.1:{port};" for port in ports)
            upstreams.append(f"    upstream {app} {{ {servers} keepalive 32; }}")
            locations.append(
                f"        location /{app}/ {{ rewrite ^/{app}(.*)$ $1 break; proxy_pass http://{app};"
                ' proxy_http_version 1.1; proxy_set_header Connection ""; }'
            )
            uvicorn = [python, "-m", "uvicorn", f"tests.load.floor_apps:{app}", "--no-access-log"]
            uvicorn += ["--log-level", "warning", "--loop", "uvloop", "--http", "httptools", "--port"]
            replicas[app] = [stack.enter_context(started([*uvicorn, str(port)], env)) for port in ports]
        with httpx.Client(timeout=2) as client:  # each replica answers before nginx may judge it
            for app, ports in ports_of.items():
                for replica_port in ports:
                    url = f"http://127.0.0.1:{replica_port}/api/v0/products/1"
                    wait_until(partial(answers, client, url), timeout=30, what=f"the {app} floor app")
        port = free_port()
        conf = state / "nginx.conf"
        conf.write_text(
            _NGINX.format(state=state, port=port, upstreams="\n".join(upstreams), locations="\n".join(locations))
        )
        stack.enter_context(started(nginx_command(conf)))
        gateway = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=2) as client:
            wait_until(partial(answers, client, f"{gateway}/healthz"), timeout=10, what="nginx")
        yield FloorApps(gateway_url=gateway, replicas=replicas)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.load.floor", description=__doc__)
    parser.add_argument("--seconds", type=int, default=20, help="measured, per scenario")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured load before each scenario")
    parser.add_argument("--connections", type=int, default=32, help="open connections wrk keeps busy")
    args = parser.parse_args()
    require_wrk()
    load = {"seconds": args.seconds, "warmup": args.warmup, "connections": args.connections}
    with running_floor(deployed_python()) as floor:
        print(f"floor apps up at {floor.gateway_url}: 2 replicas each; wrk -t2 -c{args.connections} -d{args.seconds}s")
        ceiling = run(floor.gateway_url, Scenario("ceiling", "/healthz"), **load)
        results: list[tuple[str, Result]] = []
        for app in APPS:
            results.append((app, run(floor.gateway_url, Scenario(app, floor.path(app)), **load)))
        report(ceiling, results, floor)


def report(ceiling: Result, results: list[tuple[str, Result]], floor: FloorApps) -> None:
    print(
        f"\n{'GET /api/v0/products/{id}, c32':46} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'ceiling':>8}"
    )
    print(f"{'nginx return 200 (ceiling)':46} {ceiling.per_second:8.0f} {ceiling.p50_ms:7.1f} {ceiling.p99_ms:7.1f}")
    for app, r in results:
        fraction = r.per_second / ceiling.per_second
        print(
            f"{APPS[app]:46} {r.per_second:8.0f} {r.p50_ms:7.1f} {r.p99_ms:7.1f} {r.non_2xx + r.socket_errors:6d}"
            f" {fraction:8.2%}  RSS {floor.rss(app)} MiB"
        )
    print("\n`make bench` runs these apps beside the fleet and prints every scenario as a multiple of the last one.")


if __name__ == "__main__":
    main()
