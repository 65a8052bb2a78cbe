"""A release and a reserve of one order racing on MariaDB, paused where stock used to be lost for good: the
release has looked for the order's reservation and found none, and the reserve commits before it goes on.
The release must still give the stock back, and say `released`."""

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from typing import Any

import pytest

from product_service import repository, service
from product_service.config import Settings
from product_service.schemas import ProductCreate, ReservationCreate
from service_kit.db.unit_of_work import Database
from tests.product_service.integration.conftest import migrated
from tests.support.direct import DirectDatabase
from tests.support.tokens import TokenMinter

ORDER_ID = 4242
STOCK, TAKEN = 10, 3
STEP_TIMEOUT_SECONDS = 10.0


@pytest.fixture(scope="module")
def on_mariadb(minter: TokenMinter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DirectDatabase]:
    # MariaDB only: SQLite runs one writer at a time, so the two never interleave there.
    settings: Settings
    with migrated("mariadb", tmp_path_factory.mktemp("release-race"), minter) as settings:
        direct = DirectDatabase(settings)
        yield direct
        direct.dispose()


def test_a_reserve_committed_while_a_release_looks_is_given_back(
    on_mariadb: DirectDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked, go_on = asyncio.Event(), asyncio.Event()
    real_get_reservation = repository.get_reservation

    async def pausing_get_reservation(session: Any, *, reservation_key: int, lock: bool = False) -> Any:
        found = await real_get_reservation(session, reservation_key=reservation_key, lock=lock)
        if lock and not looked.is_set():  # the release's first look, and only that one
            looked.set()
            await go_on.wait()
        return found

    monkeypatch.setattr(repository, "get_reservation", pausing_get_reservation)

    async def race(database: Database) -> tuple[bool, Any, int]:
        product_in = ProductCreate(name="raced lamp", price=Decimal("1.00"), stock=STOCK)
        product = await database.run(partial(service.create_product, product_in=product_in))
        releasing = asyncio.create_task(database.run(partial(service.release, reservation_key=ORDER_ID)))
        await asyncio.wait_for(looked.wait(), STEP_TIMEOUT_SECONDS)
        reservation_in = ReservationCreate.model_validate(
            {"order_id": ORDER_ID, "items": [{"product_id": product.id, "quantity": TAKEN}]}
        )
        [reserved] = await asyncio.wait_for(
            database.run(partial(service.reserve_batch, requests=[reservation_in])),
            STEP_TIMEOUT_SECONDS,
        )
        took = isinstance(reserved, service.Reserved) and reserved.created
        go_on.set()
        released = await asyncio.wait_for(releasing, STEP_TIMEOUT_SECONDS)
        after = await database.read(partial(service.get_product, product_id=product.id))
        return took, released, after.stock

    took, released, stock = on_mariadb.call(race)

    assert took is True, "the reserve did not commit while the release was paused: nothing raced"
    assert released.released_at is not None
    assert [line.quantity for line in released.lines] == [TAKEN]
    assert stock == STOCK
