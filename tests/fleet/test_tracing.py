"""With tracing off (the default), one trace id still follows a placement through every log line it writes:
the gateway starts the trace with its own request id, the order service logs it beside the request id and
hands the trace context on to the product service, which logs it too. A client cannot choose it."""

import uuid

import httpx

from tests.product_service.support import create_product
from tests.support.fleet import RunningFleet, wait_for_record
from tests.support.users import Account, login, signed_up

ORDERS = "/api/v0/orders"
SERVICE_REPLICAS = ("order-1", "order-2", "product-1", "product-2")


def test_one_trace_id_follows_a_placement_through_both_services_logs(fleet: RunningFleet, gateway: httpx.Client):
    admin = login(gateway, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))
    item = create_product(gateway, admin.headers, stock=5)
    user = signed_up(gateway)
    forged = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01"
    placed = gateway.post(
        ORDERS,
        json={"items": [{"product_id": item["id"], "quantity": 1}]},
        headers={**user.headers, "traceparent": forged},
    )
    assert placed.status_code == 201, placed.text
    request_id = placed.headers["x-request-id"]

    gateway_line = wait_for_record(
        lambda: fleet.log_records("gateway"),
        lambda record: record.get("request_id") == request_id and record.get("uri") == ORDERS,
    )
    # The gateway's own request id (the client sent none) is the trace id; the client's traceparent is not.
    trace_id = gateway_line["trace_id"]
    assert trace_id == request_id and trace_id != forged[3:35]

    def lines_of(programs: tuple[str, ...]) -> list[dict[str, object]]:
        return [record for program in programs for record in fleet.log_records(program)]

    placement = wait_for_record(
        lambda: lines_of(("order-1", "order-2")),
        lambda record: record.get("request_id") == request_id and record.get("event") == "request",
    )
    reservation = wait_for_record(
        lambda: lines_of(("product-1", "product-2")),
        lambda record: record.get("request_id") == request_id and record.get("event") == "stock_reserved",
    )
    assert placement["trace_id"] == reservation["trace_id"] == trace_id
    # Every line the placement wrote, in either service, says which trace it belongs to.
    written = [line for line in lines_of(SERVICE_REPLICAS) if line.get("request_id") == request_id]
    assert len(written) >= 3  # at least: the placement, the reservation, the reservation request
    assert {line.get("trace_id") for line in written} == {trace_id}
