"""The /internal/ stock API the order service calls, endpoint by endpoint, on MariaDB and on SQLite. The classes
need the fixtures `api` (public), `internal` (the internal listener), `admin_headers` and `service_headers`."""

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


@pytest.fixture
def reserve(internal, service_headers):
    def reserve(order_id, *lines, headers=None, key_name="reservation_key"):
        body = reservation_body(order_id, *lines, key_name=key_name)
        return internal.post(RESERVATIONS, json=body, headers=service_headers if headers is None else headers)

    return reserve


@pytest.fixture
def release(internal, service_headers):
    def release(order_id):
        return internal.post(f"{RESERVATIONS}/{order_id}/release", headers=service_headers)

    return release


class TestCreateReservation:
    def test_takes_every_line_and_answers_names_and_prices(self, api, admin_headers, reserve):
        cheap = create_product(api, admin_headers, price="1.50", stock=10)
        dear = create_product(api, admin_headers, price=20, stock=3)
        order_id = new_order_id()
        response = reserve(order_id, (dear["id"], 3), (cheap["id"], 4))
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["reservation_key"], body["status"], body["released_at"]) == (order_id, "held", None)
        assert body["order_id"] == order_id  # the key's former name, for order replicas of the previous release
        assert body["items"] == [
            {"product_id": cheap["id"], "name": cheap["name"], "quantity": 4, "unit_price": "1.50"},
            {"product_id": dear["id"], "name": dear["name"], "quantity": 3, "unit_price": "20.00"},
        ]
        assert get_product(api, cheap["id"])["stock"] == 6
        assert get_product(api, dear["id"])["stock"] == 0

    def test_lines_are_taken_in_ascending_product_id_whatever_the_request_order(self, api, admin_headers, reserve):
        # Two orders sharing products must lock them in one global order, or they can deadlock each other.
        # Each take stamps its product's updated_at, so the stamps show the order the rows were locked in.
        ids = [create_product(api, admin_headers, stock=5)["id"] for _ in range(4)]
        assert reserve(new_order_id(), *[(product_id, 1) for product_id in reversed(ids)]).status_code == 201
        stamps = [get_product(api, product_id)["updated_at"] for product_id in ids]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)

    def test_taking_stock_bumps_the_version(self, api, admin_headers, reserve):
        product = create_product(api, admin_headers, stock=5)
        reserve(new_order_id(), (product["id"], 1))
        response = api.get(f"{PRODUCTS}/{product['id']}")
        assert response.json()["version"] == 2
        assert response.headers["etag"] == '"2"'

    def test_lines_for_one_product_are_taken_together(self, api, admin_headers, reserve):
        product = create_product(api, admin_headers, stock=5)
        response = reserve(new_order_id(), (product["id"], 2), (product["id"], 3))
        assert response.status_code == 201, response.text
        assert [(item["product_id"], item["quantity"]) for item in response.json()["items"]] == [(product["id"], 5)]
        assert get_product(api, product["id"]) | {"updated_at": None} == product | {
            "stock": 0,
            "version": 2,
            "updated_at": None,
        }

    def test_a_repeat_returns_the_first_result_and_takes_nothing(self, api, admin_headers, reserve):
        product = create_product(api, admin_headers, stock=5)
        order_id = new_order_id()
        first = reserve(order_id, (product["id"], 2))
        again = reserve(order_id, (product["id"], 2))
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        assert get_product(api, product["id"])["stock"] == 3
        assert get_product(api, product["id"])["version"] == 2

    def test_the_keys_former_name_names_the_same_reservation(self, api, admin_headers, reserve):
        # During a rollout, order replicas of the previous release send the key as `order_id`.
        product = create_product(api, admin_headers, stock=5)
        key = new_order_id()
        first = reserve(key, (product["id"], 2), key_name="order_id")
        again = reserve(key, (product["id"], 2))
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json() == first.json()
        assert get_product(api, product["id"])["stock"] == 3

    def test_the_price_is_the_one_when_the_stock_was_taken(self, api, admin_headers, reserve):
        product = create_product(api, admin_headers, price="10.00", stock=5)
        order_id = new_order_id()
        reserve(order_id, (product["id"], 1))
        current = get_product(api, product["id"])["version"]
        patch = api.patch(
            f"{PRODUCTS}/{product['id']}", json={"price": "99.00"}, headers={**admin_headers, **if_match(current)}
        )
        assert patch.status_code == 200
        assert reserve(order_id, (product["id"], 1)).json()["items"][0]["unit_price"] == "10.00"

    def test_out_of_stock_names_the_product_and_takes_nothing(self, api, admin_headers, reserve):
        plenty = create_product(api, admin_headers, stock=100)
        scarce = create_product(api, admin_headers, stock=2)
        order_id = new_order_id()
        error = assert_error(reserve(order_id, (plenty["id"], 5), (scarce["id"], 3)), 409, "out_of_stock")
        assert error["details"] == {"product_id": scarce["id"], "requested": 3, "available": 2}
        assert get_product(api, plenty["id"]) == plenty
        assert get_product(api, scarce["id"]) == scarce

    def test_out_of_stock_is_not_remembered_so_a_retry_after_a_restock_succeeds(self, api, admin_headers, reserve):
        product = create_product(api, admin_headers, stock=1)
        order_id = new_order_id()
        assert_error(reserve(order_id, (product["id"], 2)), 409, "out_of_stock")
        api.patch(f"{PRODUCTS}/{product['id']}", json={"stock": 2}, headers={**admin_headers, **if_match(1)})
        assert reserve(order_id, (product["id"], 2)).status_code == 201
        assert get_product(api, product["id"])["stock"] == 0

    def test_an_unknown_product_is_a_422_naming_it_and_takes_nothing(self, api, admin_headers, reserve):
        product = create_product(api, admin_headers, stock=5)
        missing = 2**62
        error = assert_error(reserve(new_order_id(), (product["id"], 1), (missing, 1)), 422, "unknown_product")
        assert error["details"] == {"product_id": missing}
        assert get_product(api, product["id"]) == product

    def test_a_deleted_product_is_unknown(self, api, admin_headers, reserve):
        product = create_product(api, admin_headers, stock=5)
        api.delete(f"{PRODUCTS}/{product['id']}", headers=admin_headers)
        assert_error(reserve(new_order_id(), (product["id"], 1)), 422, "unknown_product")

    def test_the_same_order_id_with_other_items_is_a_409_and_takes_nothing(self, api, admin_headers, reserve):
        product = create_product(api, admin_headers, stock=5)
        order_id = new_order_id()
        reserve(order_id, (product["id"], 1))
        assert_error(reserve(order_id, (product["id"], 2)), 409, "reservation_mismatch")
        assert get_product(api, product["id"])["stock"] == 4

    def test_after_a_release_a_repeat_takes_nothing(self, api, admin_headers, reserve, release):
        product = create_product(api, admin_headers, stock=5)
        order_id = new_order_id()
        reserve(order_id, (product["id"], 2))
        release(order_id)
        again = reserve(order_id, (product["id"], 2))
        assert again.status_code == 200
        assert again.json()["status"] == "released"
        assert get_product(api, product["id"])["stock"] == 5

    @pytest.mark.parametrize(
        "body",
        [
            {"order_id": 1, "items": []},
            {"order_id": 0, "items": [{"product_id": 1, "quantity": 1}]},
            {"order_id": 1, "items": [{"product_id": 1, "quantity": 0}]},
            {"order_id": 1, "items": [{"product_id": 1, "quantity": 1, "unit_price": "0.01"}]},
            {"items": [{"product_id": 1, "quantity": 1}]},
        ],
        ids=["no-items", "order-zero", "quantity-zero", "client-price", "no-order-id"],
    )
    def test_a_bad_body_is_a_422(self, internal, service_headers, body):
        assert_error(internal.post(RESERVATIONS, json=body, headers=service_headers), 422, "validation_error")

    def test_without_the_service_credential_is_a_401(self, api, admin_headers, reserve):
        product = create_product(api, admin_headers, stock=5)
        assert_error(reserve(new_order_id(), (product["id"], 1), headers={}), 401, "unauthorized")
        assert get_product(api, product["id"])["stock"] == 5

    def test_a_wrong_service_credential_is_a_403(self, api, admin_headers, reserve):
        product = create_product(api, admin_headers, stock=5)
        response = reserve(new_order_id(), (product["id"], 1), headers={"X-Service-Token": "guess"})
        assert_error(response, 403, "forbidden")
        assert get_product(api, product["id"])["stock"] == 5

    def test_an_admin_access_token_is_no_service_credential(self, api, admin_headers, reserve):
        product = create_product(api, admin_headers, stock=5)
        assert_error(reserve(new_order_id(), (product["id"], 1), headers=admin_headers), 403, "forbidden")


class TestGetReservation:
    def test_shows_what_the_order_holds(self, api, admin_headers, internal, service_headers, reserve):
        product = create_product(api, admin_headers, stock=5)
        order_id = new_order_id()
        reserved = reserve(order_id, (product["id"], 2)).json()
        response = internal.get(f"{RESERVATIONS}/{order_id}", headers=service_headers)
        assert response.status_code == 200
        assert response.json() == reserved

    def test_shows_a_released_reservation_as_released(
        self, api, admin_headers, internal, service_headers, reserve, release
    ):
        product = create_product(api, admin_headers, stock=5)
        order_id = new_order_id()
        reserve(order_id, (product["id"], 2))
        release(order_id)
        body = internal.get(f"{RESERVATIONS}/{order_id}", headers=service_headers).json()
        assert body["status"] == "released"
        assert body["released_at"] is not None

    def test_an_order_that_never_reserved_is_a_404(self, internal, service_headers):
        assert_error(internal.get(f"{RESERVATIONS}/{new_order_id()}", headers=service_headers), 404, "not_found")

    def test_an_out_of_stock_attempt_leaves_nothing_to_find(
        self, api, admin_headers, internal, service_headers, reserve
    ):
        product = create_product(api, admin_headers, stock=0)
        order_id = new_order_id()
        reserve(order_id, (product["id"], 1))
        assert_error(internal.get(f"{RESERVATIONS}/{order_id}", headers=service_headers), 404)

    def test_without_the_service_credential_is_a_401(self, internal):
        assert_error(internal.get(f"{RESERVATIONS}/{new_order_id()}"), 401)

    @pytest.mark.parametrize("bad", ["0", "abc", str(2**63)])
    def test_an_impossible_reservation_key_is_a_422(self, internal, service_headers, bad):
        assert_error(internal.get(f"{RESERVATIONS}/{bad}", headers=service_headers), 422, field="reservation_key")


class TestReleaseReservation:
    def test_gives_the_stock_back_and_bumps_the_version(self, api, admin_headers, reserve, release):
        product = create_product(api, admin_headers, stock=5)
        order_id = new_order_id()
        reserve(order_id, (product["id"], 3))
        response = release(order_id)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "released"
        assert body["released_at"] is not None
        assert [(item["product_id"], item["quantity"]) for item in body["items"]] == [(product["id"], 3)]
        after = get_product(api, product["id"])
        assert (after["stock"], after["version"]) == (5, 3)

    def test_lines_are_given_back_in_ascending_product_id(self, api, admin_headers, reserve, release):
        ids = [create_product(api, admin_headers, stock=5)["id"] for _ in range(4)]
        order_id = new_order_id()
        reserve(order_id, *[(product_id, 1) for product_id in reversed(ids)])
        assert release(order_id).status_code == 200
        stamps = [get_product(api, product_id)["updated_at"] for product_id in ids]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)

    def test_releasing_again_gives_nothing_more(self, api, admin_headers, reserve, release):
        product = create_product(api, admin_headers, stock=5)
        order_id = new_order_id()
        reserve(order_id, (product["id"], 3))
        first = release(order_id)
        again = release(order_id)
        assert again.status_code == 200
        assert again.json() == first.json()
        after = get_product(api, product["id"])
        assert (after["stock"], after["version"]) == (5, 3)

    def test_an_unknown_order_is_released_empty_and_a_late_reservation_takes_nothing(
        self, api, admin_headers, reserve, release
    ):
        product = create_product(api, admin_headers, stock=5)
        order_id = new_order_id()
        response = release(order_id)
        assert response.status_code == 200, response.text
        assert (response.json()["status"], response.json()["items"]) == ("released", [])
        late = reserve(order_id, (product["id"], 2))
        assert late.status_code == 200
        assert (late.json()["status"], late.json()["items"]) == ("released", [])
        assert get_product(api, product["id"]) == product

    def test_a_product_deleted_meanwhile_does_not_stop_the_others(self, api, admin_headers, reserve, release):
        kept = create_product(api, admin_headers, stock=5)
        gone = create_product(api, admin_headers, stock=5)
        order_id = new_order_id()
        reserve(order_id, (kept["id"], 1), (gone["id"], 1))
        api.delete(f"{PRODUCTS}/{gone['id']}", headers=admin_headers)
        assert release(order_id).status_code == 200
        assert get_product(api, kept["id"])["stock"] == 5

    def test_without_the_service_credential_is_a_401_and_gives_nothing(self, api, admin_headers, internal, reserve):
        product = create_product(api, admin_headers, stock=5)
        order_id = new_order_id()
        reserve(order_id, (product["id"], 2))
        assert_error(internal.post(f"{RESERVATIONS}/{order_id}/release"), 401)
        assert get_product(api, product["id"])["stock"] == 3
