"""The product service's acceptance through the real fleet: two replicas behind real nginx on MariaDB. The
public contract and the races go through the gateway; the /internal/ stock API goes through the fleet's
internal listener (the public gateway must not route it). Tokens come from a real admin login and a real
registered user, not from a forged key."""

from collections.abc import Iterator

import httpx
import pytest

from service_kit.auth import SERVICE_TOKEN_HEADER
from tests.product_service.integration.test_concurrency import (
    TestConcurrentRelease,
    TestConcurrentReplace,
    TestConcurrentReservations,
    TestListingUnderInserts,
)
from tests.product_service.integration.test_products_api import (
    TestCreateProduct,
    TestDeleteProduct,
    TestGetProduct,
    TestListProducts,
    TestOpenApi,
    TestReplaceProduct,
    TestUpdateProduct,
)
from tests.product_service.integration.test_reservations_api import (
    TestCreateReservation,
    TestGetReservation,
    TestReleaseReservation,
    release,
    reserve,
)
from tests.product_service.support import RESERVATIONS, Replicas, assert_error, new_order_id, reservation_body
from tests.support.fleet import RunningFleet
from tests.support.users import Account, login, signed_up

__all__ = [
    "TestConcurrentRelease",
    "TestConcurrentReplace",
    "TestConcurrentReservations",
    "TestCreateProduct",
    "TestCreateReservation",
    "TestDeleteProduct",
    "TestGetProduct",
    "TestGetReservation",
    "TestListProducts",
    "TestListingUnderInserts",
    "TestOpenApi",
    "TestReleaseReservation",
    "TestReplaceProduct",
    "TestUpdateProduct",
    "release",
    "reserve",
]

TIMEOUT = httpx.Timeout(60.0, connect=5.0)


@pytest.fixture(scope="module")
def api(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.gateway_url, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture(scope="module")
def internal(fleet: RunningFleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fleet.internal_url, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture(scope="module")
def admin_headers(api: httpx.Client, fleet: RunningFleet) -> dict[str, str]:
    return login(api, Account(id=0, email=fleet.admin_email, password=fleet.admin_password)).headers


@pytest.fixture(scope="module")
def user_headers(api: httpx.Client) -> dict[str, str]:
    return signed_up(api).headers


@pytest.fixture(scope="module")
def service_headers(fleet: RunningFleet) -> dict[str, str]:
    return {SERVICE_TOKEN_HEADER: fleet.config.env["SERVICE_TOKEN"]}


@pytest.fixture(scope="module")
def replicas(fleet: RunningFleet, admin_headers, service_headers) -> Iterator[Replicas]:
    with Replicas(
        public_urls=[fleet.gateway_url],
        internal_urls=[fleet.internal_url],
        admin_headers=admin_headers,
        service_headers=service_headers,
    ) as replicas:
        yield replicas


class TestInternalApiIsNotPublic:
    def test_the_gateway_does_not_route_reservations(self, api, service_headers):
        body = reservation_body(new_order_id(), (1, 1))
        assert_error(api.post(RESERVATIONS, json=body, headers=service_headers), 404, "not_found")
        assert_error(api.get(f"{RESERVATIONS}/1", headers=service_headers), 404, "not_found")
        assert_error(api.post(f"{RESERVATIONS}/1/release", headers=service_headers), 404, "not_found")

    def test_the_internal_listener_still_demands_the_service_credential(self, internal):
        assert_error(internal.get(f"{RESERVATIONS}/{new_order_id()}"), 401, "unauthorized")
