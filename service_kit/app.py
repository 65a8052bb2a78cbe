"""The skeleton every service app is built on: envelope errors, request context, health, OpenAPI path."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from service_kit import metrics, tracing
from service_kit.auth import JwksKeys, KeySource, StaticKeys, TokenVerifier
from service_kit.db.engine import create_async_db_engine
from service_kit.db.schema_versions import SchemaVersions
from service_kit.db.unit_of_work import Database
from service_kit.docs import install_docs
from service_kit.errors import install_error_handlers
from service_kit.health import READY_TIMEOUT_SECONDS, Readiness
from service_kit.health import router as health_router
from service_kit.logging import configure_logging
from service_kit.middleware import RequestContextMiddleware
from service_kit.openapi import split_documents
from service_kit.settings import ServiceSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
# Every service verifies tokens on its own, without asking auth (docs/API.md: "What a token still allows").
TOKEN_LIFETIME_NOTE = (
    "Access tokens are verified by each service on its own, without a call to auth, and honoured until they "
    "expire: at most auth's ACCESS_TOKEN_TTL_SECONDS after issue, 15 minutes by default. A role change or a "
    "logout reaches a token already issued only then; a logout revokes its refresh tokens at once, and a "
    "refresh mints the user's current role."
)


def connections_per_replica(settings: ServiceSettings) -> int:
    """The most MySQL connections one replica holds: `database_for`'s pools full, overflow and all, and the
    probe's. MySQL's max_connections in deployment/mysql.yaml is sized from it (tests/deploy)."""
    return 2 * (settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW) + settings.SEARCH_POOL_SIZE + 1


def database_for(settings: ServiceSettings) -> Database:
    """The service's database, as its settings describe it."""
    url, timeout, tls = settings.database_url(), settings.DB_CONNECT_TIMEOUT_SECONDS, settings.database_tls()

    def pool(*, read_only: bool) -> AsyncEngine:
        engine = create_async_db_engine(
            url,
            pool_size=settings.DB_POOL_SIZE,
            max_overflow=settings.DB_MAX_OVERFLOW,
            connect_timeout=timeout,
            read_only=read_only,
            reset_on_return=False,
            tls=tls,
        )
        metrics.POOLS.watch(engine, "read" if read_only else "write")
        return engine

    # Searches may scan a table: a few connections of their own, each statement stopped at a time limit.
    search_engine = create_async_db_engine(
        url,
        pool_size=settings.SEARCH_POOL_SIZE,
        max_overflow=0,
        pool_timeout=settings.SEARCH_QUEUE_SECONDS,
        connect_timeout=timeout,
        read_only=True,
        reset_on_return=False,
        statement_seconds=settings.SEARCH_STATEMENT_SECONDS,
        tls=tls,
    )
    metrics.POOLS.watch(search_engine, "search")
    probe_engine = create_async_db_engine(url, pool_size=1, max_overflow=0, connect_timeout=timeout, tls=tls)
    metrics.POOLS.watch(probe_engine, "probe")
    return Database(
        pool(read_only=False), read_engine=pool(read_only=True), search_engine=search_engine, probe_engine=probe_engine
    )


def key_source_for(settings: ServiceSettings) -> KeySource:
    """A configured public key if there is one, else the auth service's JWKS."""
    pem = settings.public_key_pem()
    if pem:
        return StaticKeys.from_pem(pem)
    return JwksKeys(
        settings.jwks_url,
        max_age_seconds=settings.JWKS_REFRESH_SECONDS,
        retain_seconds=settings.ACCESS_TOKEN_TTL_SECONDS + settings.JWT_LEEWAY_SECONDS,
    )


def create_service_app(
    *,
    name: str,
    settings: ServiceSettings,
    api_prefix: str,
    migrations_dir: Path | None = None,
    key_source: KeySource | None = None,
    lifespan: Lifespan | None = None,
    description: str = "",
) -> FastAPI:
    """A FastAPI app with the fleet's conventions; the caller includes its own routers."""
    configure_logging(service=name, level=settings.LOG_LEVEL, fmt=settings.LOG_FORMAT, port=settings.PORT)
    database = database_for(settings)
    keys = key_source or key_source_for(settings)
    # /readyz holds a replica back until its database is migrated for this code.
    versions = SchemaVersions.of(migrations_dir) if migrations_dir else None
    readiness = Readiness(database, versions, timeout=READY_TIMEOUT_SECONDS)

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            readiness.close()
            tracing.shutdown(app)  # the last batch of spans goes out before the process does
            await database.dispose()
            if isinstance(keys, JwksKeys):
                await keys.close()

    app = FastAPI(
        title=name,
        description=f"{description}\n\n{TOKEN_LIFETIME_NOTE}".strip(),
        version="0",
        openapi_url=f"{api_prefix}/openapi.json",
        docs_url=None,  # install_docs: the same page, with Swagger UI's files from this replica
        redoc_url=None,
        lifespan=run,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.readiness = readiness
    app.state.token_verifier = TokenVerifier(
        keys, issuer=settings.JWT_ISSUER, audience=settings.JWT_AUDIENCE, leeway_seconds=settings.JWT_LEEWAY_SECONDS
    )
    install_docs(app, api_prefix=api_prefix, openapi_url=f"{api_prefix}/openapi.json")
    app.state.openapi_documents = split_documents(app, api_prefix=api_prefix)
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    app.include_router(health_router)
    metrics.install(app)
    if isinstance(keys, JwksKeys):
        tracing.register_http_client(app, keys.client)
    tracing.install(app, service=name, endpoint=settings.OTEL_EXPORTER_OTLP_ENDPOINT)
    return app
