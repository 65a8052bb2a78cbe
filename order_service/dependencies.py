from typing import Annotated

from fastapi import Depends, Request

from order_service.clients.product import ProductClient
from order_service.config import Settings
from service_kit.db import Database


def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


def get_product_client(request: Request) -> ProductClient:
    client: ProductClient = request.app.state.product_client
    return client


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DatabaseDep = Annotated[Database, Depends(get_database)]
ProductClientDep = Annotated[ProductClient, Depends(get_product_client)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
