"""The Alembic migration builds exactly the schema the models describe, and the database itself refuses what no
code path should ever write (negative stock, a second reservation for one order)."""

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from product_service.models import Base, Product, StockReservation
from tests.product_service.integration.conftest import MIGRATIONS, migrated
from tests.support.direct import DirectDatabase


@pytest.fixture(scope="module", params=["mariadb", "sqlite"])
def fresh(request, minter, tmp_path_factory) -> Iterator[DirectDatabase]:
    with migrated(request.param, tmp_path_factory.mktemp("migrations"), minter) as settings:
        database = DirectDatabase(settings)
        yield database
        database.dispose()


def _alembic_config(migrations: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations))
    return config


def _product_row() -> dict:
    now = datetime.now(UTC)
    return {
        "name": "n",
        "description": "",
        "price": "1.00",
        "stock": 1,
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


class TestMigrations:
    def test_the_schema_matches_the_models(self, fresh):
        with fresh.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []

    def test_every_constraint_has_its_conventional_name(self, fresh):
        inspector = inspect(fresh.engine)
        checks = {check["name"] for check in inspector.get_check_constraints("products")}
        assert {"ck_products_stock_non_negative", "ck_products_price_positive"} <= checks
        assert [index["name"] for index in inspector.get_indexes("products")] == ["ix_products_name"]

    def test_the_database_refuses_negative_stock(self, fresh):
        with fresh.session() as session, session.begin():
            product_id = session.execute(insert(Product).values(**_product_row())).inserted_primary_key[0]
        with pytest.raises(DBAPIError, match="ck_products_stock_non_negative"), fresh.session() as session:
            session.execute(update(Product).where(Product.id == product_id).values(stock=-1))

    def test_the_database_refuses_a_second_reservation_for_one_order(self, fresh):
        row = {"reservation_key": 77, "created_at": datetime.now(UTC)}
        with fresh.session() as session, session.begin():
            session.execute(insert(StockReservation).values(**row))
        with pytest.raises(IntegrityError), fresh.session() as session, session.begin():
            session.execute(insert(StockReservation).values(**row))

    def test_downgrade_to_base_and_upgrade_again(self, fresh):
        config = _alembic_config(MIGRATIONS)
        with fresh.engine.connect() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
            assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
            command.upgrade(config, "head")
            connection.commit()
        assert {"products", "stock_reservations", "stock_reservation_lines"} <= set(
            inspect(fresh.engine).get_table_names()
        )
