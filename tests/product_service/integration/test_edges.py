"""Inputs at the edge of what the columns hold, on MariaDB and on SQLite: each is a clear 4xx or a right
answer, never a 500 and never a wrong row."""

import pytest

from tests.product_service.support import (
    PRODUCTS,
    RESERVATIONS,
    assert_error,
    create_product,
    get_product,
    if_match,
    new_order_id,
    reservation_body,
)

MAX_STOCK = 1_000_000_000
INT_MAX = 2**31 - 1


class TestIntegersBeyondTheirColumns:
    @pytest.mark.parametrize("method", ["patch", "put"])
    def test_a_body_version_beyond_int_is_a_422_naming_it(self, api, admin_headers, method):
        product = create_product(api, admin_headers, stock=5)
        body = {"name": "n", "description": "", "price": "1.00", "stock": 6, "version": 2**70}
        if method == "patch":
            body = {"stock": 6, "version": 2**70}
        response = getattr(api, method)(f"{PRODUCTS}/{product['id']}", json=body, headers=admin_headers)
        error = assert_error(response, 422, "validation_error")
        assert [field["field"] for field in error["details"]["fields"]] == ["version"]
        assert get_product(api, product["id"])["version"] == product["version"]

    def test_the_largest_int_version_is_only_stale(self, api, admin_headers):
        product = create_product(api, admin_headers, stock=5)
        body = {"stock": 6, "version": INT_MAX}
        assert_error(
            api.patch(f"{PRODUCTS}/{product['id']}", json=body, headers=admin_headers), 409, "version_conflict"
        )

    def test_releases_after_restocks_can_take_stock_past_a_32_bit_int(
        self, api, internal, admin_headers, service_headers
    ):
        product = create_product(api, admin_headers, price="0.01", stock=MAX_STOCK)
        orders = [new_order_id() for _ in range(3)]
        for order_id in orders:  # take all of it, then restock to the most a client may set
            taken = internal.post(
                RESERVATIONS, json=reservation_body(order_id, (product["id"], MAX_STOCK)), headers=service_headers
            )
            assert taken.status_code == 201, taken.text
            version = get_product(api, product["id"])["version"]
            restock = api.patch(
                f"{PRODUCTS}/{product['id']}", json={"stock": MAX_STOCK}, headers={**admin_headers, **if_match(version)}
            )
            assert restock.status_code == 200, restock.text
        for order_id in orders:
            released = internal.post(f"{RESERVATIONS}/{order_id}/release", headers=service_headers)
            assert released.status_code == 200, released.text
        assert get_product(api, product["id"])["stock"] == 4 * MAX_STOCK > INT_MAX


class TestTotalsBeyondAnOrder:
    def test_lines_worth_more_than_an_order_holds_are_a_422_taking_nothing(
        self, api, internal, admin_headers, service_headers
    ):
        dear = create_product(api, admin_headers, price="9999999999.99", stock=3)
        cheap = create_product(api, admin_headers, price="0.01", stock=3)
        order_id = new_order_id()
        body = reservation_body(order_id, (cheap["id"], 1), (dear["id"], 1))
        error = assert_error(internal.post(RESERVATIONS, json=body, headers=service_headers), 422, "total_too_large")
        assert error["details"] == {"total": "10000000000.00", "max_total": "9999999999.99"}
        for product in (dear, cheap):
            after = get_product(api, product["id"])
            assert (after["stock"], after["version"]) == (3, product["version"])
        assert_error(internal.get(f"{RESERVATIONS}/{order_id}", headers=service_headers), 404)

    def test_a_total_of_exactly_the_largest_amount_is_reserved(self, api, internal, admin_headers, service_headers):
        dear = create_product(api, admin_headers, price="3333333333.33", stock=3)
        body = reservation_body(new_order_id(), (dear["id"], 3))
        assert internal.post(RESERVATIONS, json=body, headers=service_headers).status_code == 201
        assert get_product(api, dear["id"])["stock"] == 0


class TestIdsAreNeverReused:
    def test_the_newest_products_id_is_not_handed_out_again_after_its_delete(self, api, admin_headers):
        # SQLite reuses the largest rowid unless the table is AUTOINCREMENT; a release for a reservation of
        # the deleted product would then add stock to the new one.
        newest = create_product(api, admin_headers)
        deleted = api.delete(f"{PRODUCTS}/{newest['id']}", headers={**admin_headers, **if_match(newest["version"])})
        assert deleted.status_code == 204, deleted.text
        assert create_product(api, admin_headers)["id"] > newest["id"]
