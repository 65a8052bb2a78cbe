"""ordersDB's migrations, run for real on MariaDB: existing orders keep reserving under their own id."""

from functools import partial

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from order_service.config import MIGRATIONS_DIR, Settings
from service_kit.db.migrate import upgrade_to_head
from tests.support.mariadb import db_env, throwaway_database


def _alembic(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


class TestReservationId:
    def test_orders_placed_before_it_existed_keep_their_id_as_reservation_id(self):
        with throwaway_database("test_order_migrations") as name:
            settings = Settings(APP_ENV="test", ORDERS_DB_NAME=name, **db_env())
            engine = create_engine(settings.database_url())
            with engine.connect() as connection:
                command.upgrade(_alembic(connection), "c3e1f5a7b001")
                connection.execute(
                    text(
                        "INSERT INTO orders (user_id, status, request_fingerprint, created_at, updated_at) "
                        "VALUES (7, 'confirmed', 'f', NOW(6), NOW(6))"
                    )
                )
                connection.commit()
            upgrade_to_head(settings, MIGRATIONS_DIR)
            with engine.connect() as connection:
                row = connection.execute(text("SELECT id, reservation_id FROM orders")).one()
                assert row.reservation_id == row.id
                columns = {c[0]: c for c in connection.execute(text("SHOW COLUMNS FROM orders")).all()}
                assert columns["reservation_id"][2] == "NO"  # NOT NULL
            engine.dispose()


class TestNewOrders:
    def test_reserve_under_a_random_id_not_their_own(self, orders, order_database, minter, products):
        from order_service import repository
        from tests.product_service.support import create_product

        item = create_product(products, minter.admin_headers(), stock=5)
        body = {"items": [{"product_id": item["id"], "quantity": 1}]}
        order = orders.post("/api/v0/orders", json=body, headers=minter.user_headers(user_id=900_000_003)).json()
        stored = order_database.run(partial(repository.get, order_id=order["id"]))
        assert stored is not None and stored.reservation_key != stored.id
        held = products.get(
            f"/internal/reservations/{stored.reservation_key}", headers={"X-Service-Token": "order-tests-service-token"}
        )
        assert held.status_code == 200 and held.json()["status"] == "held"


class TestSchema:
    def test_the_migrations_build_exactly_what_the_models_describe(self, order_database):
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        from order_service.models import Base

        with order_database.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
