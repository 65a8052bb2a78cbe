"""Races, for real: bursts of at least 20 requests released together against two replica processes sharing one
database (MariaDB, and the SQLite embedded default). The classes need only the fixture `replicas`, so
tests/fleet runs them again through the gateway."""

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.product_service.support import PRODUCTS, Replicas, if_match, new_order_id, product_body, unique_name
from tests.support.concurrency import burst, wait_until


class TestConcurrentReplace:
    def test_twenty_puts_with_the_same_if_match_let_exactly_one_win(self, replicas: Replicas):
        product = replicas.create_product(stock=5)
        bodies = [product_body(name=unique_name(f"writer-{n}"), stock=n) for n in range(20)]
        headers = {**replicas.admin_headers, **if_match(1)}
        responses = burst(
            lambda n: replicas.public(n).put(f"{PRODUCTS}/{product['id']}", json=bodies[n], headers=headers), range(20)
        )
        statuses = Counter(response.status_code for response in responses)
        assert statuses == {200: 1, 412: 19}, [response.text for response in responses if response.status_code >= 500]
        (winner,) = [n for n, response in enumerate(responses) if response.status_code == 200]
        final = replicas.get_product(product["id"])
        assert final["version"] == 2
        assert (final["name"], final["stock"]) == (bodies[winner]["name"], winner)
        for response in responses:
            if response.status_code == 412:
                assert response.json()["error"]["details"]["current_version"] == 2

    def test_twenty_puts_with_the_same_body_version_let_exactly_one_win(self, replicas: Replicas):
        product = replicas.create_product(stock=5)
        responses = burst(
            lambda n: replicas.public(n).put(
                f"{PRODUCTS}/{product['id']}",
                json=product_body(stock=n, version=1),
                headers=replicas.admin_headers,
            ),
            range(20),
        )
        assert Counter(response.status_code for response in responses) == {200: 1, 409: 19}
        assert replicas.get_product(product["id"])["version"] == 2


class TestConcurrentReservations:
    def test_120_reservations_of_one_against_stock_50_take_exactly_50(self, replicas: Replicas):
        product = replicas.create_product(stock=50)
        order_ids = [new_order_id() for _ in range(120)]
        responses = burst(lambda n: replicas.reserve(order_ids[n], (product["id"], 1), i=n), range(120))
        statuses = Counter(response.status_code for response in responses)
        assert statuses == {201: 50, 409: 70}, [r.text for r in responses if r.status_code not in (201, 409)]
        assert {response.json()["error"]["code"] for response in responses if response.status_code == 409} == {
            "out_of_stock"
        }
        final = replicas.get_product(product["id"])
        assert (final["stock"], final["version"]) == (0, 51)
        held = [order_id for order_id, r in zip(order_ids, responses, strict=True) if r.status_code == 201]
        assert all(replicas.reservation(order_id).json()["status"] == "held" for order_id in held)

    def test_orders_over_shared_products_in_any_line_order_all_settle_and_the_stock_adds_up(self, replicas: Replicas):
        products = [replicas.create_product(stock=40)["id"] for _ in range(4)]
        rng = random.Random(7)
        orders = []
        for _ in range(60):
            lines = [(product_id, rng.randint(1, 3)) for product_id in rng.sample(products, k=rng.randint(2, 4))]
            orders.append((new_order_id(), lines))  # lines in random product order: the service must sort them
        responses = burst(lambda n: replicas.reserve(orders[n][0], *orders[n][1], i=n), range(len(orders)))
        assert {response.status_code for response in responses} <= {201, 409}, [
            response.text for response in responses if response.status_code not in (201, 409)
        ]
        taken: Counter[int] = Counter()
        for (_order_id, lines), response in zip(orders, responses, strict=True):
            if response.status_code == 201:
                for product_id, quantity in lines:
                    taken[product_id] += quantity
        for product_id in products:
            assert replicas.get_product(product_id)["stock"] == 40 - taken[product_id]

    def test_repeats_of_one_order_racing_each_other_take_the_stock_once(self, replicas: Replicas):
        product = replicas.create_product(stock=10)
        order_id = new_order_id()
        responses = burst(lambda n: replicas.reserve(order_id, (product["id"], 3), i=n), range(30))
        statuses = Counter(response.status_code for response in responses)
        assert statuses == {201: 1, 200: 29}, [r.text for r in responses if r.status_code not in (200, 201)]
        assert len({response.text for response in responses}) == 1
        final = replicas.get_product(product["id"])
        assert (final["stock"], final["version"]) == (7, 2)

    def test_a_stale_admin_patch_after_a_burst_never_overwrites_the_stock_it_took(self, replicas: Replicas):
        product = replicas.create_product(stock=100)
        read = replicas.get_product(product["id"])  # the admin's view, before the burst
        responses = burst(lambda n: replicas.reserve(new_order_id(), (product["id"], 1), i=n), range(30))
        assert Counter(response.status_code for response in responses) == {201: 30}
        url = f"{PRODUCTS}/{product['id']}"
        headers = replicas.admin_headers
        by_header = replicas.public().patch(url, json={"stock": 100}, headers={**headers, **if_match(read["version"])})
        by_body = replicas.public().patch(url, json={"stock": 100, "version": read["version"]}, headers=headers)
        assert (by_header.status_code, by_body.status_code) == (412, 409)
        assert by_header.json()["error"]["details"]["current_version"] == read["version"] + 30
        final = replicas.get_product(product["id"])
        assert (final["stock"], final["version"]) == (70, read["version"] + 30)

    def test_a_stale_admin_patch_inside_a_burst_either_wins_first_or_is_refused(self, replicas: Replicas):
        product = replicas.create_product(stock=100)
        read = replicas.get_product(product["id"])
        url = f"{PRODUCTS}/{product['id']}"
        headers = {**replicas.admin_headers, **if_match(read["version"])}

        def reserve_or_patch(n: int) -> httpx.Response:
            if n == 15:
                return replicas.public(n).patch(url, json={"stock": 500}, headers=headers)
            return replicas.reserve(new_order_id(), (product["id"], 1), i=n)

        responses = burst(reserve_or_patch, range(31))
        patch = responses.pop(15)
        assert Counter(response.status_code for response in responses) == {201: 30}
        final = replicas.get_product(product["id"])
        assert final["version"] == read["version"] + (31 if patch.status_code == 200 else 30)
        if patch.status_code == 200:
            # It applied to the version it read, so before any reservation; all 30 came out of the new stock.
            assert patch.json()["version"] == read["version"] + 1
            assert final["stock"] == 500 - 30
        else:
            assert patch.status_code == 412, patch.text
            assert final["stock"] == 100 - 30


class TestConcurrentRelease:
    def test_twenty_releases_of_one_order_give_the_stock_back_once(self, replicas: Replicas):
        product = replicas.create_product(stock=10)
        order_id = new_order_id()
        assert replicas.reserve(order_id, (product["id"], 4)).status_code == 201
        responses = burst(lambda n: replicas.release(order_id, i=n), range(20))
        assert {response.status_code for response in responses} == {200}
        assert {response.json()["status"] for response in responses} == {"released"}
        final = replicas.get_product(product["id"])
        assert (final["stock"], final["version"]) == (10, 3)

    def test_reserves_and_releases_racing_on_one_order_leave_nothing_held(self, replicas: Replicas):
        product = replicas.create_product(stock=100)
        order_ids = [new_order_id() for _ in range(4)]
        calls = [(order_id, action, n) for order_id in order_ids for n in range(6) for action in ("reserve", "release")]
        random.Random(3).shuffle(calls)

        def call(order_id: int, action: str, n: int) -> httpx.Response:
            if action == "reserve":
                return replicas.reserve(order_id, (product["id"], 5), i=n)
            return replicas.release(order_id, i=n + 1)

        responses = burst(lambda spec: call(*spec), calls)
        assert {response.status_code for response in responses} <= {200, 201}, [
            response.text for response in responses if response.status_code not in (200, 201)
        ]
        for order_id in order_ids:
            assert replicas.reservation(order_id).json()["status"] == "released"
        final = replicas.get_product(product["id"])
        assert final["stock"] == 100
        took = sum(1 for response in responses if response.status_code == 201)
        assert final["version"] == 1 + 2 * took  # each order that took stock gave it back exactly once


class TestListingUnderInserts:
    def test_keyset_pages_walk_1000_products_with_no_duplicate_and_no_gap_while_others_are_inserted(
        self, replicas: Replicas
    ):
        tag = unique_name("walk")
        with ThreadPoolExecutor(max_workers=16) as pool:  # seeding is not the race under test
            seeded = sorted(
                product["id"]
                for product in pool.map(lambda n: replicas.create_product(i=n, name=f"{tag}-seed-{n}"), range(1000))
            )
        inserted: list[int] = []
        stop = threading.Event()

        def insert_while_walking() -> None:
            n = 0
            while not stop.is_set():
                inserted.append(replicas.create_product(i=n, name=f"{tag}-late-{n}")["id"])
                n += 1

        inserter = threading.Thread(target=insert_while_walking, daemon=True)
        inserter.start()
        try:
            assert wait_until(lambda: len(inserted) >= 3, timeout=30)
            inserted_before_walk = len(inserted)
            walked: list[int] = []
            cursor: str | None = None
            while True:
                params: dict[str, str | int] = {"q": tag, "limit": 37}
                if cursor:
                    params["cursor"] = cursor
                response = replicas.public(len(walked)).get(PRODUCTS, params=params)
                assert response.status_code == 200, response.text
                walked += [item["id"] for item in response.json()["items"]]
                cursor = response.json()["next_cursor"]
                if cursor is None:
                    break
            inserted_during_walk = len(inserted) - inserted_before_walk
        finally:
            stop.set()
            inserter.join(timeout=30)
        assert inserted_during_walk > 0, "nothing was inserted while the walk ran; the test proved nothing"
        assert len(walked) == len(set(walked)), "a product appeared twice"
        assert walked == sorted(walked)
        assert set(seeded) <= set(walked), f"missed {sorted(set(seeded) - set(walked))[:10]}"
        assert set(walked) - set(seeded) <= set(inserted)
