"""`docker compose stop` of a replica: PID 1 takes the SIGTERM, finishes the request it is serving (one held
for real behind a row this test locks in MySQL), and exits 0 well inside the stop grace period."""

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from fleet.waiting import wait_until
from tests.compose.project import Compose, env_file_values
from tests.product_service.support import PRODUCTS, create_product, get_product, if_match
from tests.support.mariadb import INNODB_TRX_POLL_SECONDS
from tests.support.users import Account

LOCK_SECONDS = 5
GRACE_SECONDS = 30  # docker-compose.yml's stop_grace_period for a replica


def lock_waits(compose: Compose) -> int:
    """Transactions waiting for a row lock (poll it every INNODB_TRX_POLL_SECONDS)."""
    [[count]] = compose.sql("SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT'")
    return int(count)


def test_a_stopped_replica_finishes_its_request_and_exits_0(
    compose: Compose, gateway: httpx.Client, admin: Account
) -> None:
    product = create_product(gateway, admin.headers, stock=5)
    replica = compose.container("product-2")
    password = env_file_values()["MYSQL_ROOT_PASSWORD"]
    locked = f"SELECT id FROM products WHERE id = {int(product['id'])} FOR UPDATE"  # noqa: S608 (an int)
    hold = f"BEGIN; {locked}; DO SLEEP({LOCK_SECONDS}); ROLLBACK;"
    holder = subprocess.Popen(
        [*compose.command, "exec", "-T", "mysql", "mysql", "--user=root", f"--password={password}", "productsDB"],
        stdin=subprocess.PIPE,
        env=compose.env,
        text=True,
    )
    assert holder.stdin is not None
    holder.stdin.write(hold)
    holder.stdin.close()
    wait_until(lambda: compose.sql("SELECT COUNT(*) FROM information_schema.innodb_trx")[0][0] != "0",
               timeout=30, interval=INNODB_TRX_POLL_SECONDS, what="the row lock to be held")  # fmt: skip

    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(
            httpx.patch,
            f"http://{replica.address}:8000{PRODUCTS}/{product['id']}",
            json={"stock": 6},
            headers={**admin.headers, **if_match(product["version"])},
            timeout=60,
        )
        wait_until(
            lambda: lock_waits(compose) >= 1,
            timeout=30,
            interval=INNODB_TRX_POLL_SECONDS,
            what="the restock to wait on the row",
        )
        began = time.monotonic()
        compose.run("stop", "product-2", capture=True)
        stopped_after = time.monotonic() - began
        finished = in_flight.result(timeout=60)
    assert holder.wait(timeout=30) == 0

    assert finished.status_code == 200, finished.text
    # Read with Authorization: always from the database, never from the gateway's catalogue cache.
    assert get_product(gateway, product["id"], headers=admin.headers)["stock"] == 6
    state = compose.container("product-2").state
    assert (state["Status"], state["ExitCode"], state["OOMKilled"]) == ("exited", 0, False)
    assert stopped_after < GRACE_SECONDS, f"stop took {stopped_after:.1f} s: it was killed, not stopped"

    compose.run("start", "product-2", capture=True)
    compose.wait_healthy("product-2")
