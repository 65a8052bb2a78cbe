from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from order_service.clients.product import ProductClient
from order_service.config import MIGRATIONS_DIR, Settings, settings
from order_service.flows import Reconciler
from order_service.routes import public
from service_kit import tracing
from service_kit.app import create_service_app
from service_kit.auth import current_user


def create_app(app_settings: Settings | None = None) -> FastAPI:
    """The order service: placement over HTTP to the product service, history, cancellation."""
    app_settings = app_settings or settings
    products = ProductClient(
        app_settings.PRODUCT_SERVICE_URL,
        service_token=app_settings.SERVICE_TOKEN.get_secret_value(),
        connect_timeout=app_settings.PRODUCT_CONNECT_TIMEOUT_SECONDS,
        read_timeout=app_settings.PRODUCT_READ_TIMEOUT_SECONDS,
        deadline=app_settings.PRODUCT_RESERVE_DEADLINE_SECONDS,
        max_in_flight=app_settings.PRODUCT_MAX_IN_FLIGHT,
        queue_timeout=app_settings.PRODUCT_QUEUE_TIMEOUT_SECONDS,
        stall_timeout=app_settings.PRODUCT_STALL_TIMEOUT_SECONDS,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reconciler = Reconciler(
            app.state.database,
            products,
            interval=app_settings.RECONCILE_INTERVAL_SECONDS,
            pending_timeout=app_settings.PENDING_TIMEOUT_SECONDS,
            batch_size=app_settings.RECONCILE_BATCH_SIZE,
            lease=app_settings.RECONCILE_LEASE_SECONDS,
        )
        reconciler.start()
        try:
            yield
        finally:
            await reconciler.stop()
            await products.close()

    app = create_service_app(
        name="order_service",
        settings=app_settings,
        migrations_dir=MIGRATIONS_DIR,
        api_prefix=public.PREFIX,
        lifespan=lifespan,
        description="Orders placed against the product service's stock; history; cancellation.",
    )
    app.state.product_client = products
    tracing.register_http_client(app, products.http)
    app.include_router(public.router, dependencies=[Depends(current_user)])
    return app
