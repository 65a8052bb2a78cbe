"""The product section of API.md, endpoint by endpoint, on MariaDB and on SQLite. The classes need only the
fixtures `api`, `admin_headers` and `user_headers`, so tests/fleet can run them through the real gateway."""

import time
import uuid

import pytest

from tests.product_service.support import (
    PRODUCTS,
    assert_error,
    create_product,
    get_product,
    if_match,
    product_body,
    unique_name,
)

PRODUCT_FIELDS = {"id", "name", "description", "price", "stock", "version", "created_at", "updated_at"}


class TestListProducts:
    def test_pages_through_matching_products_in_id_order(self, api, admin_headers):
        tag = unique_name("listing")
        ids = [create_product(api, admin_headers, name=f"{tag}-{n}")["id"] for n in range(7)]
        seen, cursor, pages = [], None, 0
        while True:
            params = {"q": tag, "limit": 3, **({"cursor": cursor} if cursor else {})}
            response = api.get(PRODUCTS, params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            assert set(body) == {"items", "next_cursor"}
            seen += [item["id"] for item in body["items"]]
            pages += 1
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert seen == ids
        assert pages == 3

    def test_the_last_full_page_has_no_next_cursor(self, api, admin_headers):
        tag = unique_name("exact")
        for n in range(4):
            create_product(api, admin_headers, name=f"{tag}-{n}")
        first = api.get(PRODUCTS, params={"q": tag, "limit": 2}).json()
        second = api.get(PRODUCTS, params={"q": tag, "limit": 2, "cursor": first["next_cursor"]}).json()
        assert len(second["items"]) == 2
        assert second["next_cursor"] is None

    def test_items_are_whole_products_with_string_prices(self, api, admin_headers):
        tag = unique_name("shape")
        create_product(api, admin_headers, name=tag, price=5)
        (item,) = api.get(PRODUCTS, params={"q": tag}).json()["items"]
        assert set(item) == PRODUCT_FIELDS
        assert item["price"] == "5.00"

    def test_defaults_to_20_items(self, api, admin_headers):
        tag = unique_name("default")
        for n in range(21):
            create_product(api, admin_headers, name=f"{tag}-{n}")
        body = api.get(PRODUCTS, params={"q": tag}).json()
        assert len(body["items"]) == 20
        assert body["next_cursor"] is not None

    def test_q_matches_part_of_the_name_in_any_case(self, api, admin_headers):
        tag = unique_name("case")
        wanted = create_product(api, admin_headers, name=f"Red {tag.upper()} Shoe")["id"]
        create_product(api, admin_headers, name=f"Blue {tag}x")  # also contains the tag
        create_product(api, admin_headers, name=unique_name("other"))
        found = [item["id"] for item in api.get(PRODUCTS, params={"q": f"red {tag}"}).json()["items"]]
        assert found == [wanted]

    def test_q_treats_like_wildcards_literally(self, api, admin_headers):
        tag = unique_name("wild")
        percent = create_product(api, admin_headers, name=f"{tag} 100% cotton")["id"]
        create_product(api, admin_headers, name=f"{tag} 100 cotton")
        found = [item["id"] for item in api.get(PRODUCTS, params={"q": f"{tag} 100%"}).json()["items"]]
        assert found == [percent]
        assert api.get(PRODUCTS, params={"q": f"{tag}_"}).json()["items"] == []

    def test_q_matches_the_escape_character_itself(self, api, admin_headers):
        tag = unique_name("slash")
        slashed = create_product(api, admin_headers, name=f"{tag} 1/2 inch")["id"]
        create_product(api, admin_headers, name=f"{tag} 12 inch")
        assert [item["id"] for item in api.get(PRODUCTS, params={"q": f"{tag} 1/2"}).json()["items"]] == [slashed]

    def test_no_match_is_an_empty_page(self, api):
        assert api.get(PRODUCTS, params={"q": unique_name("nothing")}).json() == {"items": [], "next_cursor": None}

    def test_anyone_may_list(self, api):
        assert api.get(PRODUCTS).status_code == 200

    @pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1.5"])
    def test_limit_outside_1_to_100_is_a_422(self, api, limit):
        assert_error(api.get(PRODUCTS, params={"limit": limit}), 422, "validation_error", field="limit")

    @pytest.mark.parametrize("limit", [1, 100])
    def test_limit_at_the_bounds_is_fine(self, api, limit):
        assert api.get(PRODUCTS, params={"limit": limit}).status_code == 200

    @pytest.mark.parametrize("cursor", ["garbage!", "eyJpZCI6ICJ4In0", "bnVsbA", "x" * 600])
    def test_a_cursor_we_did_not_issue_is_a_422(self, api, cursor):
        assert_error(api.get(PRODUCTS, params={"cursor": cursor}), 422, "validation_error", field="cursor")


class TestGetProduct:
    def test_returns_the_product_with_its_etag(self, api, admin_headers):
        created = create_product(api, admin_headers, price="0.5", stock=3)
        response = api.get(f"{PRODUCTS}/{created['id']}")
        assert response.status_code == 200
        assert response.headers["etag"] == '"1"'
        body = response.json()
        assert set(body) == PRODUCT_FIELDS
        assert body == created
        assert (body["price"], body["stock"], body["version"]) == ("0.50", 3, 1)
        assert body["created_at"].endswith("Z") or body["created_at"].endswith("+00:00")

    def test_anyone_may_read(self, api, admin_headers):
        product = create_product(api, admin_headers)
        assert api.get(f"{PRODUCTS}/{product['id']}").status_code == 200

    def test_if_none_match_with_the_current_tag_is_304(self, api, admin_headers):
        product = create_product(api, admin_headers)
        response = api.get(f"{PRODUCTS}/{product['id']}", headers={"If-None-Match": '"1"'})
        assert response.status_code == 304
        assert response.headers["etag"] == '"1"'
        assert response.content == b""

    def test_if_none_match_with_an_old_tag_is_200(self, api, admin_headers):
        product = create_product(api, admin_headers)
        api.patch(f"{PRODUCTS}/{product['id']}", json={"stock": 1}, headers={**admin_headers, **if_match(1)})
        response = api.get(f"{PRODUCTS}/{product['id']}", headers={"If-None-Match": '"1"'})
        assert response.status_code == 200
        assert response.headers["etag"] == '"2"'

    def test_unknown_id_is_a_404(self, api):
        assert_error(api.get(f"{PRODUCTS}/{2**62}"), 404, "not_found")

    @pytest.mark.parametrize("bad", ["0", "-1", "abc", "1.5", str(2**63), "9" * 40])
    def test_an_id_that_cannot_exist_is_a_422_not_a_500(self, api, bad):
        assert_error(api.get(f"{PRODUCTS}/{bad}"), 422, "validation_error", field="product_id")


class TestGatewayCacheStamp:
    """The expiry stamp the gateway's catalogue cache keeps an answer by (product_service/caching.py). Not run
    through the fleet: its gateway sets the request header itself and never shows the stamp to a client."""

    def test_a_read_is_stamped_to_expire_as_the_asked_for_seconds_end(self, api, admin_headers):
        product = create_product(api, admin_headers)
        for asked, path in ((1, f"{PRODUCTS}/{product['id']}"), (5, f"{PRODUCTS}?limit=2")):
            before = int(time.time())
            response = api.get(path, headers={"X-Gateway-Cache-Seconds": str(asked)})
            after = int(time.time())
            assert response.status_code == 200
            expiry = int(response.headers["X-Accel-Expires"].removeprefix("@"))
            assert before + asked - 1 <= expiry <= after + asked - 1

    def test_a_304_is_stamped_too_so_a_refresh_renews_the_copy(self, api, admin_headers):
        product = create_product(api, admin_headers)
        headers = {"X-Gateway-Cache-Seconds": "1", "If-None-Match": '"1"'}
        response = api.get(f"{PRODUCTS}/{product['id']}", headers=headers)
        assert response.status_code == 304
        assert response.headers["X-Accel-Expires"].startswith("@")

    @pytest.mark.parametrize("asked", ["0", "3601", "-1", "1.5", "abc", b"\xb9", ""])
    def test_anything_but_1_to_3600_seconds_stamps_nothing_and_refuses_nothing(self, api, admin_headers, asked):
        product = create_product(api, admin_headers)
        response = api.get(f"{PRODUCTS}/{product['id']}", headers={"X-Gateway-Cache-Seconds": asked})
        assert response.status_code == 200
        assert "X-Accel-Expires" not in response.headers

    def test_no_request_header_no_stamp(self, api, admin_headers):
        product = create_product(api, admin_headers)
        assert "X-Accel-Expires" not in api.get(f"{PRODUCTS}/{product['id']}").headers


class TestCreateProduct:
    def test_creates_version_1_with_location_and_etag(self, api, admin_headers):
        body = product_body(price="19.99", stock=4)
        response = api.post(PRODUCTS, json=body, headers=admin_headers)
        assert response.status_code == 201, response.text
        created = response.json()
        assert response.headers["location"] == f"{PRODUCTS}/{created['id']}"
        assert response.headers["etag"] == '"1"'
        assert created["version"] == 1
        assert {key: created[key] for key in body} == body
        assert created["created_at"] == created["updated_at"]
        assert get_product(api, created["id"]) == created

    @pytest.mark.parametrize(("given", "stored"), [(19.99, "19.99"), (7, "7.00"), ("0.1", "0.10"), (0.01, "0.01")])
    def test_price_may_be_a_number_or_a_string(self, api, admin_headers, given, stored):
        assert create_product(api, admin_headers, price=given)["price"] == stored

    @pytest.mark.parametrize("price", ["0.01", "0.10", "1.00", "123.45", "9999999999.99"])
    def test_a_price_reads_back_exactly(self, api, admin_headers, price):
        product = create_product(api, admin_headers, price=price)
        assert get_product(api, product["id"])["price"] == price

    def test_a_large_price_and_stock_fit(self, api, admin_headers):
        product = create_product(api, admin_headers, price="9999999999.99", stock=1_000_000_000)
        assert (product["price"], product["stock"]) == ("9999999999.99", 1_000_000_000)

    def test_name_is_stored_trimmed_and_unicode_survives(self, api, admin_headers):
        name = f"Café {uuid.uuid4().hex[:6]} ☕ 日本"
        assert create_product(api, admin_headers, name=f"  {name} ")["name"] == name

    def test_no_token_is_a_401(self, api):
        assert_error(api.post(PRODUCTS, json=product_body()), 401, "unauthorized")

    def test_a_bad_token_is_a_401(self, api):
        response = api.post(PRODUCTS, json=product_body(), headers={"Authorization": "Bearer not.a.token"})
        assert_error(response, 401, "unauthorized")

    def test_a_user_is_forbidden(self, api, user_headers):
        assert_error(api.post(PRODUCTS, json=product_body(), headers=user_headers), 403, "forbidden")

    @pytest.mark.parametrize(
        ("overrides", "field"),
        [
            ({"price": 19.999}, "price"),
            ({"price": "19.999"}, "price"),
            ({"price": 0}, "price"),
            ({"price": "-1.00"}, "price"),
            ({"price": "abc"}, "price"),
            ({"price": "10000000000"}, "price"),
            ({"price": None}, "price"),
            ({"stock": -1}, "stock"),
            ({"stock": 1_000_000_001}, "stock"),
            ({"stock": 2.5}, "stock"),
            ({"stock": "5"}, "stock"),
            ({"name": ""}, "name"),
            ({"name": "x" * 201}, "name"),
            ({"description": "x" * 10_001}, "description"),
            ({"version": 3}, "version"),
            ({"id": 5}, "id"),
            ({"colour": "red"}, "colour"),
        ],
    )
    def test_a_bad_field_is_a_422_naming_it(self, api, admin_headers, overrides, field):
        response = api.post(PRODUCTS, json=product_body(**overrides), headers=admin_headers)
        assert_error(response, 422, "validation_error", field=field)

    @pytest.mark.parametrize("literal", ["1e400", "-1e400", "NaN", "Infinity", "1e-400"])
    def test_json_numbers_that_are_no_price_are_a_422_not_a_500(self, api, admin_headers, literal):
        content = f'{{"name": "n", "description": "", "price": {literal}, "stock": 1}}'
        response = api.post(PRODUCTS, content=content, headers={**admin_headers, "Content-Type": "application/json"})
        assert_error(response, 422, "validation_error", field="price")

    @pytest.mark.parametrize("missing", ["name", "price", "stock"])
    def test_a_missing_field_is_a_422_naming_it(self, api, admin_headers, missing):
        body = {key: value for key, value in product_body().items() if key != missing}
        assert_error(api.post(PRODUCTS, json=body, headers=admin_headers), 422, "validation_error", field=missing)

    def test_malformed_json_is_a_422(self, api, admin_headers):
        response = api.post(
            PRODUCTS, content=b"{not json", headers={**admin_headers, "Content-Type": "application/json"}
        )
        assert_error(response, 422, "validation_error")


class TestReplaceProduct:
    def _replacement(self, **overrides):
        return product_body(name=unique_name("replaced"), description="new", price="5.55", stock=2, **overrides)

    def test_with_the_current_if_match_replaces_every_field(self, api, admin_headers):
        product = create_product(api, admin_headers)
        body = self._replacement()
        response = api.put(f"{PRODUCTS}/{product['id']}", json=body, headers={**admin_headers, **if_match(1)})
        assert response.status_code == 200, response.text
        replaced = response.json()
        assert response.headers["etag"] == '"2"'
        assert replaced["version"] == 2
        assert {key: replaced[key] for key in body} == body
        assert replaced["created_at"] == product["created_at"]
        assert replaced["updated_at"] > product["updated_at"]
        assert get_product(api, product["id"]) == replaced

    def test_with_a_stale_if_match_is_a_412_and_changes_nothing(self, api, admin_headers):
        product = create_product(api, admin_headers)
        api.put(f"{PRODUCTS}/{product['id']}", json=self._replacement(), headers={**admin_headers, **if_match(1)})
        response = api.put(
            f"{PRODUCTS}/{product['id']}", json=self._replacement(), headers={**admin_headers, **if_match(1)}
        )
        error = assert_error(response, 412, "precondition_failed")
        assert error["details"] == {"current_version": 2}
        assert response.headers["etag"] == '"2"'
        assert get_product(api, product["id"])["version"] == 2

    def test_with_the_current_body_version_replaces(self, api, admin_headers):
        product = create_product(api, admin_headers)
        response = api.put(f"{PRODUCTS}/{product['id']}", json=self._replacement(version=1), headers=admin_headers)
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 2

    def test_with_a_stale_body_version_is_a_409_with_the_current_version(self, api, admin_headers):
        product = create_product(api, admin_headers)
        api.put(f"{PRODUCTS}/{product['id']}", json=self._replacement(version=1), headers=admin_headers)
        body = self._replacement(version=1)
        error = assert_error(api.put(f"{PRODUCTS}/{product['id']}", json=body, headers=admin_headers), 409)
        assert error["code"] == "version_conflict"
        assert error["details"] == {"current_version": 2}
        assert get_product(api, product["id"])["name"] != body["name"]

    def test_without_any_version_is_a_428_and_changes_nothing(self, api, admin_headers):
        product = create_product(api, admin_headers)
        response = api.put(f"{PRODUCTS}/{product['id']}", json=self._replacement(), headers=admin_headers)
        assert_error(response, 428, "precondition_required")
        assert get_product(api, product["id"]) == product

    def test_if_match_star_is_a_428(self, api, admin_headers):
        product = create_product(api, admin_headers)
        headers = {**admin_headers, "If-Match": "*"}
        assert_error(api.put(f"{PRODUCTS}/{product['id']}", json=self._replacement(), headers=headers), 428)

    def test_a_weak_or_foreign_if_match_never_matches(self, api, admin_headers):
        product = create_product(api, admin_headers)
        for tag in ('W/"1"', '"abc"', "1"):
            headers = {**admin_headers, "If-Match": tag}
            response = api.put(f"{PRODUCTS}/{product['id']}", json=self._replacement(), headers=headers)
            assert_error(response, 412, "precondition_failed")

    def test_disagreeing_if_match_and_body_version_are_a_422(self, api, admin_headers):
        product = create_product(api, admin_headers)
        headers = {**admin_headers, **if_match(1)}
        response = api.put(f"{PRODUCTS}/{product['id']}", json=self._replacement(version=7), headers=headers)
        assert_error(response, 422, "validation_error", field="version")

    @pytest.mark.parametrize("missing", ["name", "description", "price", "stock"])
    def test_every_field_is_required(self, api, admin_headers, missing):
        product = create_product(api, admin_headers)
        body = {key: value for key, value in self._replacement().items() if key != missing}
        response = api.put(f"{PRODUCTS}/{product['id']}", json=body, headers={**admin_headers, **if_match(1)})
        assert_error(response, 422, "validation_error", field=missing)

    def test_unknown_id_is_a_404(self, api, admin_headers):
        response = api.put(f"{PRODUCTS}/{2**62}", json=self._replacement(), headers={**admin_headers, **if_match(1)})
        assert_error(response, 404, "not_found")

    def test_a_user_is_forbidden_and_changes_nothing(self, api, admin_headers, user_headers):
        product = create_product(api, admin_headers)
        response = api.put(
            f"{PRODUCTS}/{product['id']}", json=self._replacement(), headers={**user_headers, **if_match(1)}
        )
        assert_error(response, 403, "forbidden")
        assert get_product(api, product["id"]) == product

    def test_no_token_is_a_401(self, api, admin_headers):
        product = create_product(api, admin_headers)
        assert_error(api.put(f"{PRODUCTS}/{product['id']}", json=self._replacement(), headers=if_match(1)), 401)


class TestUpdateProduct:
    def test_changes_only_the_given_fields(self, api, admin_headers):
        product = create_product(api, admin_headers, price="3.00", stock=5)
        response = api.patch(f"{PRODUCTS}/{product['id']}", json={"stock": 9}, headers={**admin_headers, **if_match(1)})
        assert response.status_code == 200, response.text
        patched = response.json()
        assert response.headers["etag"] == '"2"'
        assert patched == {**product, "stock": 9, "version": 2, "updated_at": patched["updated_at"]}

    def test_price_may_be_patched_as_a_number(self, api, admin_headers):
        product = create_product(api, admin_headers)
        response = api.patch(f"{PRODUCTS}/{product['id']}", json={"price": 4.5, "version": 1}, headers=admin_headers)
        assert response.json()["price"] == "4.50"

    def test_with_a_stale_if_match_is_a_412(self, api, admin_headers):
        product = create_product(api, admin_headers, stock=5)
        api.patch(f"{PRODUCTS}/{product['id']}", json={"stock": 6}, headers={**admin_headers, **if_match(1)})
        response = api.patch(f"{PRODUCTS}/{product['id']}", json={"stock": 7}, headers={**admin_headers, **if_match(1)})
        assert assert_error(response, 412)["details"] == {"current_version": 2}
        assert get_product(api, product["id"])["stock"] == 6

    def test_with_a_stale_body_version_is_a_409(self, api, admin_headers):
        product = create_product(api, admin_headers, stock=5)
        api.patch(f"{PRODUCTS}/{product['id']}", json={"stock": 6, "version": 1}, headers=admin_headers)
        response = api.patch(f"{PRODUCTS}/{product['id']}", json={"stock": 7, "version": 1}, headers=admin_headers)
        assert assert_error(response, 409, "version_conflict")["details"] == {"current_version": 2}
        assert get_product(api, product["id"])["stock"] == 6

    def test_without_any_version_is_a_428(self, api, admin_headers):
        product = create_product(api, admin_headers)
        assert_error(api.patch(f"{PRODUCTS}/{product['id']}", json={"stock": 1}, headers=admin_headers), 428)

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"stock": None, "version": 1}, "stock"),
            ({"name": None, "version": 1}, "name"),
            ({"price": "1.001", "version": 1}, "price"),
            ({"stock": -5, "version": 1}, "stock"),
            ({"sku": "x", "version": 1}, "sku"),
        ],
    )
    def test_a_bad_field_is_a_422_naming_it(self, api, admin_headers, body, field):
        product = create_product(api, admin_headers)
        response = api.patch(f"{PRODUCTS}/{product['id']}", json=body, headers=admin_headers)
        assert_error(response, 422, "validation_error", field=field)
        assert get_product(api, product["id"]) == product

    def test_a_patch_changing_nothing_is_a_422(self, api, admin_headers):
        product = create_product(api, admin_headers)
        response = api.patch(f"{PRODUCTS}/{product['id']}", json={}, headers={**admin_headers, **if_match(1)})
        assert_error(response, 422, "validation_error")

    def test_unknown_id_is_a_404(self, api, admin_headers):
        response = api.patch(f"{PRODUCTS}/{2**62}", json={"stock": 1, "version": 1}, headers=admin_headers)
        assert_error(response, 404, "not_found")

    def test_a_user_is_forbidden(self, api, admin_headers, user_headers):
        product = create_product(api, admin_headers)
        response = api.patch(f"{PRODUCTS}/{product['id']}", json={"stock": 1, "version": 1}, headers=user_headers)
        assert_error(response, 403, "forbidden")


class TestDeleteProduct:
    def test_deletes_it(self, api, admin_headers):
        product = create_product(api, admin_headers)
        response = api.delete(f"{PRODUCTS}/{product['id']}", headers=admin_headers)
        assert response.status_code == 204
        assert response.content == b""
        assert_error(api.get(f"{PRODUCTS}/{product['id']}"), 404)

    def test_unknown_id_is_a_404(self, api, admin_headers):
        assert_error(api.delete(f"{PRODUCTS}/{2**62}", headers=admin_headers), 404, "not_found")

    def test_deleting_twice_is_a_404_the_second_time(self, api, admin_headers):
        product = create_product(api, admin_headers)
        api.delete(f"{PRODUCTS}/{product['id']}", headers=admin_headers)
        assert_error(api.delete(f"{PRODUCTS}/{product['id']}", headers=admin_headers), 404)

    def test_with_the_current_if_match_deletes(self, api, admin_headers):
        product = create_product(api, admin_headers)
        assert api.delete(f"{PRODUCTS}/{product['id']}", headers={**admin_headers, **if_match(1)}).status_code == 204

    def test_with_a_stale_if_match_is_a_412_and_keeps_it(self, api, admin_headers):
        product = create_product(api, admin_headers)
        api.patch(f"{PRODUCTS}/{product['id']}", json={"stock": 1}, headers={**admin_headers, **if_match(1)})
        response = api.delete(f"{PRODUCTS}/{product['id']}", headers={**admin_headers, **if_match(1)})
        assert assert_error(response, 412, "precondition_failed")["details"] == {"current_version": 2}
        assert get_product(api, product["id"])["stock"] == 1

    def test_a_user_is_forbidden_and_it_stays(self, api, admin_headers, user_headers):
        product = create_product(api, admin_headers)
        assert_error(api.delete(f"{PRODUCTS}/{product['id']}", headers=user_headers), 403, "forbidden")
        assert get_product(api, product["id"]) == product

    def test_no_token_is_a_401(self, api, admin_headers):
        product = create_product(api, admin_headers)
        assert_error(api.delete(f"{PRODUCTS}/{product['id']}"), 401, "unauthorized")


class TestOpenApi:
    def test_documents_every_product_path(self, api):
        document = api.get(f"{PRODUCTS}/openapi.json").json()
        assert {PRODUCTS, f"{PRODUCTS}/{{product_id}}"} <= set(document["paths"])
        product = document["components"]["schemas"]["ProductRead"]
        assert product["properties"]["price"]["type"] == "string"
