from typing import Annotated

from fastapi import Depends, Request

from order_service.clients.product import ProductClient
from order_service.config import Settings


async def get_product_client(request: Request) -> ProductClient:
    client: ProductClient = request.app.state.product_client
    return client


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


ProductClientDep = Annotated[ProductClient, Depends(get_product_client)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
