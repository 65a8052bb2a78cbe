"""Two deaths in a row under compose: a product container crashes and its restart policy brings it back, and
its partner crashes the moment the first answers /readyz again, while the gateway may still be skipping the
first. No GET through the gateway may fail.

A crashed container's address does not always refuse: while the engine rebuilds the container's network it
drops the SYN, and the kernel sends it again only after 1 s. The check measures that from a container on the
same network (a probe connecting to the crashed container's address until it is back), and prints it beside
the slowest connects the gateway itself saw, which UPSTREAM_CONNECT_TIMEOUT (300 ms) cuts short."""

import subprocess
from datetime import UTC, datetime

import httpx
import pytest

from tests.compose.check_drill import RESTART_TIMEOUT_SECONDS, wait_back
from tests.compose.project import GATEWAY_URL, Compose
from tests.product_service.support import PRODUCTS, create_product
from tests.support.streams import Stream
from tests.support.users import Account

SLOW_CONNECT_SECONDS = 0.1
PROBE_SECONDS = 60
# Connects to ADDRESS:8000 until one succeeds after a failure (the container is back) or SECONDS pass: one
# line per failed connect, its seconds and its error. The first line says the probe is connecting.
PROBE = """
import socket, sys, time
address, until = (sys.argv[1], 8000), time.monotonic() + float(sys.argv[2])
print("probing", flush=True)
failed = False
while time.monotonic() < until:
    began = time.monotonic()
    try:
        socket.create_connection(address, timeout=5).close()
        if failed:
            break
    except OSError as error:
        failed = True
        print(f"{time.monotonic() - began:.4f} {type(error).__name__}", flush=True)
    time.sleep(0.005)
"""


def connect_seconds(records: list[dict[str, object]]) -> list[float]:
    """Every upstream connect the gateway timed (a request that went on to another replica lists several)."""
    times = []
    for record in records:
        for value in str(record.get("upstream_connect_time", "")).split(", "):
            if value not in ("", "-"):
                times.append(float(value))
    return times


def start_probe(compose: Compose, target: str, *, within: str) -> "subprocess.Popen[str]":
    """PROBE run in the `within` container against `target`'s address, once it is connecting."""
    command = ["docker", "exec", compose.container(within).id, "python", "-c", PROBE]
    probe = subprocess.Popen(
        [*command, compose.container(target).address, str(PROBE_SECONDS)], stdout=subprocess.PIPE, text=True
    )
    assert probe.stdout is not None
    assert probe.stdout.readline().strip() == "probing"
    return probe


def failed_connects(probe: "subprocess.Popen[str]") -> list[tuple[float, str]]:
    """What the probe saw until the container was back: (seconds, error) per failed connect."""
    output, _ = probe.communicate(timeout=PROBE_SECONDS + 30)
    return [(float(seconds), error) for seconds, error in (line.split() for line in output.splitlines())]


def test_no_read_fails_when_the_partner_dies_as_soon_as_one_is_back(
    compose: Compose, gateway: httpx.Client, admin: Account, capsys: pytest.CaptureFixture[str]
) -> None:
    product = create_product(gateway, admin.headers, stock=5)
    # With Authorization, so that every read reaches a replica rather than the gateway's catalogue cache.
    stream = Stream.of_reads(GATEWAY_URL, {PRODUCTS: admin.headers, f"{PRODUCTS}/{product['id']}": admin.headers})
    since = datetime.now(UTC).isoformat()
    stream.start()
    try:
        stream.wait_for(40)
        probe = start_probe(compose, "product-1", within="order-1")
        wait_back(compose, compose.crash("product-1"))
        wait_back(compose, compose.crash("product-2"))  # at once
        stream.wait_for(40)
    finally:
        stream.stop()
    probed = failed_connects(probe)
    for service in ("product-1", "product-2"):
        compose.wait_healthy(service, timeout=RESTART_TIMEOUT_SECONDS)

    connects = connect_seconds(compose.gateway_records(since=since))
    slow = sorted((seconds for seconds in connects if seconds >= SLOW_CONNECT_SECONDS), reverse=True)
    slowest_probe = max(probed, default=(0.0, "none"))
    with capsys.disabled():
        print(
            f"\ntwo product deaths in a row: {stream.done:,} GETs, {len(stream.failures)} failed; "
            f"{len(connects):,} upstream connects by the gateway, {len(slow)} of them {SLOW_CONNECT_SECONDS} s "
            f"or longer (slowest: {', '.join(f'{seconds:.3f} s' for seconds in slow[:5]) or 'none'}); "
            f"a probe's connects to product-1 while it was down: {len(probed)} failed, the slowest after "
            f"{slowest_probe[0]:.3f} s ({slowest_probe[1]})"
        )
    assert stream.failures == [], stream.failures[:10]
    assert connects, "the gateway logged no upstream connect"
    assert probed, "the probe never saw product-1 down"
