from fastapi import Depends, FastAPI

from product_service.config import MIGRATIONS_DIR, Settings, settings
from product_service.routes import internal, public
from service_kit.app import create_service_app
from service_kit.auth import admin_user, service_caller

PREFIX = public.PREFIX


def create_app(app_settings: Settings | None = None) -> FastAPI:
    """The product service: a public catalogue (admins write) and /internal/ stock reservations for orders."""
    app = create_service_app(
        name="product_service",
        settings=app_settings or settings,
        migrations_dir=MIGRATIONS_DIR,
        api_prefix=PREFIX,
        description="The catalogue, with optimistic locking (ETag / If-Match / version), and the stock "
        "reservations the order service makes through /internal/ (never routed by the gateway).",
    )
    app.include_router(public.open_router)
    app.include_router(public.router, dependencies=[Depends(admin_user)])
    app.include_router(internal.router, dependencies=[Depends(service_caller)])
    return app
