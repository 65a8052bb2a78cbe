"""The least a FastAPI replica can do for `GET /api/v0/products/{id}`: the floor `make bench-floor` measures
the fleet against. Each app is one route and nothing else (no middleware, no logging, no ETag):

- `bare`: the row from memory, through the same kind of pydantic response model the fleet uses;
- `driver`: one SELECT by primary key on a bare asyncmy pool;
- `core`: the same SELECT through SQLAlchemy Core on an async engine (what the fleet's reads run on).

    FLOOR_DB_URL=mysql+asyncmy://user@host/db uvicorn tests.load.floor_apps:core
"""

import os
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncmy
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

COLUMNS = ("id", "name", "description", "price", "stock", "version", "created_at", "updated_at")
SELECT_ONE = "SELECT id, name, description, price, stock, version, created_at, updated_at FROM products WHERE id = %s"
ROUTE = "/api/v0/products/{product_id}"


class Product(BaseModel):
    id: int
    name: str
    description: str
    price: Decimal
    stock: int
    version: int
    created_at: datetime
    updated_at: datetime


def _product(row: Any) -> Product:
    if row is None:
        raise HTTPException(404)
    return Product(**dict(zip(COLUMNS, row, strict=True)))


bare = FastAPI()
_IN_MEMORY = (1, "bench lamp 0", "warm", Decimal("19.99"), 10**9, 1, datetime(2026, 1, 1), datetime(2026, 1, 1))


@bare.get(ROUTE)
async def from_memory(product_id: int) -> Product:
    return _product(_IN_MEMORY)


driver = FastAPI()
_pool: list[Any] = []


@driver.get(ROUTE)
async def by_driver(product_id: int) -> Product:
    if not _pool:
        url = sa.make_url(os.environ["FLOOR_DB_URL"])
        _pool.append(
            await asyncmy.create_pool(
                host=url.host,
                port=url.port or 3306,
                user=url.username,
                password=url.password or "",
                db=url.database,
                autocommit=True,
                maxsize=8,
            )
        )
    async with _pool[0].acquire() as connection, connection.cursor() as cursor:
        await cursor.execute(SELECT_ONE, (product_id,))
        return _product(await cursor.fetchone())


core = FastAPI()
_engines: list[AsyncEngine] = []
_table = sa.table("products", *(sa.column(name) for name in COLUMNS))
_BY_ID = sa.select(_table).where(_table.c.id == sa.bindparam("id"))


@core.get(ROUTE)
async def by_core(product_id: int) -> Product:
    if not _engines:
        url = os.environ["FLOOR_DB_URL"]
        _engines.append(create_async_engine(url, pool_size=8, isolation_level="AUTOCOMMIT", pool_reset_on_return=None))
    async with _engines[0].connect() as connection:
        return _product((await connection.execute(_BY_ID, {"id": product_id})).first())
