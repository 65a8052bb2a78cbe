"""A batch of reservations (service.reserve_batch, one unit of work) answers each call exactly as if it had
come alone: the same batch is applied once as a batch and once call by call, on twin products, and the
answers, the stock and the versions must match. On both backends."""

from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from product_service import service
from product_service.config import Settings
from product_service.schemas import ProductCreate, ReservationCreate
from service_kit.db.unit_of_work import Database
from service_kit.errors import AppError
from tests.product_service.support import new_order_id
from tests.support.direct import DirectDatabase

UNKNOWN_PRODUCT = 10**12


@pytest.fixture(scope="module")
def direct(settings: Settings) -> Iterator[DirectDatabase]:
    database = DirectDatabase(settings)
    yield database
    database.dispose()


def call(order_id: int, *lines: tuple[int, int]) -> ReservationCreate:
    items = [{"product_id": product_id, "quantity": quantity} for product_id, quantity in lines]
    return ReservationCreate.model_validate({"order_id": order_id, "items": items})


def answer(outcome: service.Reserved | AppError, names: dict[int, str]) -> tuple[Any, ...]:
    """An outcome with the run's own ids replaced by names, so two runs on twin products compare."""
    if isinstance(outcome, service.Reserved):
        held = sorted(
            (names[line.product_id], line.quantity, line.name, line.unit_price) for line in outcome.reservation.lines
        )
        status = "held" if outcome.reservation.released_at is None else "released"
        return ("reserved", outcome.created, status, held)
    details = {
        key: names.get(value, value) if key.endswith(("_id", "_key")) else value
        for key, value in outcome.details.items()
    }
    return (type(outcome).__name__, outcome.code, details)


async def scenario(database: Database, *, batched: bool) -> tuple[list[tuple[Any, ...]], dict[str, tuple[int, int]]]:
    """Products A (5 in stock), B (2) and C (2,000 at 9,999,999.99), an order that reserved before, then
    nine calls: a repeat of it, a good order, one short of stock, one naming an unknown product, a repeat
    inside the batch (its lines in another order), a repeat asking for other items, one whose total is too
    large, one taking what is left, and one that finds A sold out."""

    async def product(name: str, stock: int, price: str) -> int:
        product_in = ProductCreate(name=name, price=Decimal(price), stock=stock)
        created = await database.run(partial(service.create_product, product_in=product_in))
        return created.id

    a, b, c = (
        await product("lamp A", 5, "19.99"),
        await product("lamp B", 2, "5.00"),
        await product("lamp C", 2000, "9999999.99"),
    )
    before, good, rest = new_order_id(), new_order_id(), new_order_id()
    names = {a: "A", b: "B", c: "C", UNKNOWN_PRODUCT: "unknown", before: "before"}
    await database.run(partial(service.reserve_batch, requests=[call(before, (a, 1))]))
    calls = [
        call(before, (a, 1)),
        call(good, (a, 2), (b, 1)),
        call(new_order_id(), (b, 2)),
        call(new_order_id(), (a, 1), (UNKNOWN_PRODUCT, 1)),
        call(good, (b, 1), (a, 2)),
        call(before, (a, 3)),
        call(new_order_id(), (c, 1001)),
        call(rest, (a, 2), (b, 1)),
        call(new_order_id(), (a, 1)),
    ]
    outcomes: list[service.Reserved | AppError] = []
    if batched:
        outcomes = await database.run(partial(service.reserve_batch, requests=calls))
    else:
        for one in calls:
            outcomes += await database.run(partial(service.reserve_batch, requests=[one]))
    after = {names[p]: await database.read(partial(service.get_product, product_id=p)) for p in (a, b, c)}
    return [answer(outcome, names) for outcome in outcomes], {
        name: (row.stock, row.version) for name, row in after.items()
    }


def test_a_batch_answers_each_call_as_if_it_had_come_alone(direct: DirectDatabase) -> None:
    batched = direct.call(partial(scenario, batched=True))
    alone = direct.call(partial(scenario, batched=False))
    assert batched == alone
    answers, stock = batched
    assert [(a[0], a[1]) for a in answers] == [
        ("reserved", False),
        ("reserved", True),
        ("OutOfStock", "out_of_stock"),
        ("UnknownProduct", "unknown_product"),
        ("reserved", False),
        ("ReservationMismatch", "reservation_mismatch"),
        ("TotalTooLarge", "total_too_large"),
        ("reserved", True),
        ("OutOfStock", "out_of_stock"),
    ]
    assert answers[2][2] == {"product_id": "B", "requested": 2, "available": 1}
    # Each reservation that took a product's stock counts as one change of its version.
    assert stock == {"A": (0, 4), "B": (0, 3), "C": (2000, 1)}
