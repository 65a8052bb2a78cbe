"""What an operator reads off the replicas' /metrics after real traffic through the gateway: a placement
counted under its route template with its status, its reservation call, and its outcome; a product service
that is down, in the dependency errors and the 503s; and never any of it through the public gateway."""

from collections.abc import Iterable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.product_service.support import create_product
from tests.support.fleet import RunningFleet
from tests.support.users import Account, login, signed_up

ORDERS = "/api/v0/orders"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(fleet: RunningFleet, programs: Iterable[str]) -> Samples:
    """The programs' samples, added together (a scraper sums over replicas the same way)."""
    total: Samples = {}
    for program in programs:
        response = httpx.get(f"{fleet.replica_url(program)}/metrics", timeout=5)
        assert response.status_code == 200, response.text
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                key = (sample.name, frozenset(sample.labels.items()))
                total[key] = total.get(key, 0.0) + sample.value
    return total


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


ORDER_REPLICAS, PRODUCT_REPLICAS = ("order-1", "order-2"), ("product-1", "product-2")


def order_body(product_id: int) -> dict[str, object]:
    return {"items": [{"product_id": product_id, "quantity": 1}]}


def admin_of(fleet: RunningFleet, gateway: httpx.Client) -> Account:
    return login(gateway, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))


def test_a_placement_is_counted_where_an_operator_looks(fleet: RunningFleet, gateway: httpx.Client) -> None:
    item = create_product(gateway, admin_of(fleet, gateway).headers, stock=5)
    user = signed_up(gateway)
    orders_before, products_before = scrape(fleet, ORDER_REPLICAS), scrape(fleet, PRODUCT_REPLICAS)
    placed = gateway.post(ORDERS, json=order_body(item["id"]), headers=user.headers)
    assert placed.status_code == 201, placed.text
    orders_after, products_after = scrape(fleet, ORDER_REPLICAS), scrape(fleet, PRODUCT_REPLICAS)

    assert delta(orders_before, orders_after, "http_requests_total", route=ORDERS, method="POST", status="2xx") == 1
    assert delta(orders_before, orders_after, "http_request_duration_seconds_count", route=ORDERS, method="POST") == 1
    assert delta(orders_before, orders_after, "order_placements_total", outcome="confirmed") == 1
    # At least: the reconciler may deliver a release left over by an earlier test meanwhile.
    calls = "dependency_requests_total"
    assert delta(orders_before, orders_after, calls, dependency="product_service", outcome="ok") >= 1
    reservations = "/internal/reservations"
    assert delta(products_before, products_after, "product_stock_reservations_total", outcome="reserved") == 1
    assert (
        delta(products_before, products_after, "http_requests_total", route=reservations, method="POST", status="2xx")
        == 1
    )
    # The order's own id is nowhere in a label: the read of it is counted under the template.
    order_id = placed.json()["id"]
    assert gateway.get(f"{ORDERS}/{order_id}", headers=user.headers).status_code == 200
    routes = {value for _, pairs in scrape(fleet, ORDER_REPLICAS) for name, value in pairs if name == "route"}
    assert f"{ORDERS}/{{order_id}}" in routes
    assert not any(f"/{order_id}" in route for route in routes)


def test_a_product_service_that_is_down_shows_as_dependency_errors_and_503s(
    fleet: RunningFleet, gateway: httpx.Client
) -> None:
    item = create_product(gateway, admin_of(fleet, gateway).headers, stock=5)
    user = signed_up(gateway)
    before = scrape(fleet, ORDER_REPLICAS)
    for program in PRODUCT_REPLICAS:
        fleet.stop_program(program)
    try:
        refused = gateway.post(ORDERS, json=order_body(item["id"]), headers=user.headers)
    finally:
        for program in PRODUCT_REPLICAS:
            fleet.start_program(program)
    assert refused.status_code == 503, refused.text
    after = scrape(fleet, ORDER_REPLICAS)

    assert delta(before, after, "http_requests_total", route=ORDERS, method="POST", status="5xx") == 1
    assert delta(before, after, "order_placements_total", outcome="unavailable") == 1
    # Locally the product service sits behind the mesh listener, which answers 502/503 for it; in a cluster
    # a dead Service refuses the connection. Either way: counted, and never as ok.
    failed = sum(
        delta(before, after, "dependency_requests_total", dependency="product_service", outcome=outcome)
        for outcome in ("refused", "timeout", "5xx")
    )
    assert failed >= 1


def test_metrics_are_never_served_by_the_public_gateway(gateway: httpx.Client) -> None:
    for path in ("/metrics", "/api/v0/metrics", "/gateway/status", "/internal/metrics"):
        response = gateway.get(path)
        assert response.status_code == 404, (path, response.text)
        assert response.json()["error"]["code"] == "not_found"
        assert "http_requests_total" not in response.text


def test_the_gateway_reports_its_own_status_on_its_internal_listener_only(fleet: RunningFleet) -> None:
    status = httpx.get(f"{fleet.internal_url}/gateway/status", timeout=5)
    assert status.status_code == 200
    assert status.text.startswith("Active connections:")
    assert "requests" in status.text


def test_refusals_are_counted_by_kind(fleet: RunningFleet, gateway: httpx.Client) -> None:
    """A stale If-Match, a wrong password and a spent refresh token, each in its own counter."""
    admin = admin_of(fleet, gateway)
    item = create_product(gateway, admin.headers, stock=5)
    user = signed_up(gateway)
    auth, products = ("auth-1", "auth-2"), PRODUCT_REPLICAS
    before = {**scrape(fleet, auth), **scrape(fleet, products)}

    stale = gateway.patch(
        f"/api/v0/products/{item['id']}", json={"stock": 6}, headers={**admin.headers, "If-Match": '"99"'}
    )
    assert stale.status_code == 412, stale.text
    wrong = gateway.post("/api/v0/auth/login", json={"email": user.email, "password": "not-the-password"})
    assert wrong.status_code == 401
    assert gateway.post("/api/v0/auth/refresh", json={"refresh_token": user.refresh_token}).status_code == 200
    assert gateway.post("/api/v0/auth/refresh", json={"refresh_token": user.refresh_token}).status_code == 401

    after = {**scrape(fleet, auth), **scrape(fleet, products)}
    assert delta(before, after, "product_optimistic_lock_refusals_total", status="412") == 1
    assert delta(before, after, "auth_logins_total", outcome="failed") == 1
    assert delta(before, after, "auth_refreshes_total", outcome="succeeded") == 1
    assert delta(before, after, "auth_refreshes_total", outcome="reused") == 1
