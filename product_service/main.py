from fastapi import FastAPI

from product_service.config import Settings, settings
from service_kit.app import create_service_app

PREFIX = "/api/v0/products"


def create_app(app_settings: Settings | None = None) -> FastAPI:
    """The product service (health only until its issue lands)."""
    return create_service_app(name="product_service", settings=app_settings or settings, api_prefix=PREFIX)
