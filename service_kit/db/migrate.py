"""Prestart, as each image and the fleet run it once per rollout: wait for the database, create it
if missing, then `alembic upgrade head` under an advisory lock so two runners never race."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, create_engine, pool, text
from sqlalchemy.exc import OperationalError
from tenacity import retry, retry_if_exception_type, stop_after_delay, wait_exponential

from service_kit.db.engine import create_db_engine
from service_kit.settings import ServiceSettings

log = structlog.get_logger(__name__)

_UNKNOWN_DATABASE = 1049


def _mysql_error_code(exc: OperationalError) -> int | None:
    args = getattr(exc.orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


@retry(
    retry=retry_if_exception_type(OperationalError),
    stop=stop_after_delay(60),
    wait=wait_exponential(multiplier=0.2, max=3),
    reraise=True,
)
def _wait_and_ensure_database(settings: ServiceSettings) -> None:
    url = settings.database_url()
    if url.get_backend_name() == "sqlite":
        return
    engine = create_db_engine(url, tls=settings.database_tls(), poolclass=pool.NullPool, pool_pre_ping=False)
    try:
        with engine.connect():
            return
    except OperationalError as exc:
        if _mysql_error_code(exc) != _UNKNOWN_DATABASE:
            log.info("database_not_ready", error=str(exc.orig))
            raise
    finally:
        engine.dispose()
    # The server answers but the database is missing (local runs as root): create it.
    server = create_db_engine(
        settings.database_url(with_database=False), tls=settings.database_tls(), poolclass=pool.NullPool
    )
    with server.begin() as connection:
        name = settings.database_name().replace("`", "")
        connection.execute(
            text(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        )
    server.dispose()
    log.info("database_created", database=name)


@contextmanager
def _migration_lock(connection: Connection, name: str) -> Iterator[None]:
    """MySQL advisory lock held for the whole upgrade (SQLite's own file lock serialises it there)."""
    if connection.dialect.name != "mysql":
        yield
        return
    acquired = connection.execute(text("SELECT GET_LOCK(:name, 600)"), {"name": name}).scalar()
    if acquired != 1:
        raise RuntimeError(f"could not take the migration lock {name}")
    try:
        yield
    finally:
        connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})


def upgrade_to_head(settings: ServiceSettings, migrations_dir: Path) -> None:
    """Bring this service's database to the newest migration, exactly once however many run it."""
    _wait_and_ensure_database(settings)
    engine = create_db_engine(settings.database_url(), tls=settings.database_tls())
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    try:
        with engine.connect() as connection, _migration_lock(connection, f"migrate:{settings.database_name()}"):
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
    finally:
        engine.dispose()
    log.info("migrated", database=settings.database_name())


def run_migrations(target_metadata: MetaData) -> None:
    """The body of every service's alembic env.py: migrate on the connection `upgrade_to_head` opened,
    or on `sqlalchemy.url` when alembic's own CLI is used (e.g. `alembic revision --autogenerate`)."""
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is not None:
        _run_on(connection, target_metadata)
        return
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as fresh:
        _run_on(fresh, target_metadata)
        fresh.commit()


def _run_on(connection: Connection, target_metadata: MetaData) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
