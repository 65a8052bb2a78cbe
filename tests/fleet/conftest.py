"""Fixtures for tests that speak HTTP to the real fleet through real nginx.

- `fleet` (package): the running fleet on three throwaway MariaDB databases, rate limits off. Use
  `fleet.gateway_url`, `fleet.internal_url` (the loopback stand-in for cluster Services, which routes
  /internal/), `fleet.admin_email` / `fleet.admin_password` (the seeded admin),
  `fleet.jwt_private_key_file` (auth's signing key, e.g. `TokenMinter.from_pem_file(...)` to forge tokens),
  `fleet.pid(p)`, `fleet.kill(p)`, `fleet.wait_restarted(p, old_pid)`, `fleet.stop_program(p)`,
  `fleet.start_program(p)`, `fleet.read_log(p)`, `fleet.log_records(p)` for programs auth-1, auth-2,
  product-1, product-2, order-1, order-2, gateway. A test that stops or kills a program brings it back.
- `gateway` (function): an httpx.Client on the gateway's URL.
- `start_extra_gateway` (function): `start_extra_gateway({"TRUSTED_PROXIES": "127.0.0.1/32"})` starts another
  nginx from the same template in front of the same replicas, with the template's default rate limits unless
  `env` says otherwise; it has `.url` and `.read_log()` and is stopped after the test.
"""

from collections.abc import Callable, Iterator, Mapping

import httpx
import pytest

from tests.support.fleet import RunningFleet, running_fleet
from tests.support.gateway import GatewayProcess


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fleet/" in item.nodeid:
            item.add_marker(pytest.mark.fleet)


# Per package, not per session: stopped once tests/fleet/ is done, so that its replicas' 60-odd MariaDB
# connections are closed before the integration tests open theirs (together they reached 146 of the
# server's default 151).
@pytest.fixture(scope="package")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningFleet]:
    with running_fleet(tmp_path_factory.mktemp("fleet")) as running:
        yield running


@pytest.fixture
def gateway(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.gateway_url, timeout=10.0) as client:
        yield client


@pytest.fixture
def start_extra_gateway(fleet: RunningFleet) -> Iterator[Callable[..., GatewayProcess]]:
    started: list[GatewayProcess] = []

    def start(env: Mapping[str, str] | None = None) -> GatewayProcess:
        gateway = fleet.extra_gateway(env)
        gateway.__enter__()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()
