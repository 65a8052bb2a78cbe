from fastapi import FastAPI

from order_service.config import Settings, settings
from service_kit.app import create_service_app

PREFIX = "/api/v0/orders"


def create_app(app_settings: Settings | None = None) -> FastAPI:
    """The order service (health only until its issue lands)."""
    return create_service_app(name="order_service", settings=app_settings or settings, api_prefix=PREFIX)
