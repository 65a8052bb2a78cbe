from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from order_service.models import OrderStatus

ProductId = Annotated[int, Field(gt=0, le=2**63 - 1)]


class OrderLineCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: ProductId
    quantity: Annotated[int, Field(gt=0, le=1_000_000)]


class OrderCreate(BaseModel):
    """What a client may say about an order: products and quantities, never prices or names."""

    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[OrderLineCreate], Field(min_length=1, max_length=100)]

    @field_validator("items")
    @classmethod
    def _one_line_per_product(cls, items: list[OrderLineCreate]) -> list[OrderLineCreate]:
        """The same product twice is one line with the quantities added, in first-seen order."""
        merged: dict[int, int] = {}
        for item in items:
            merged[item.product_id] = merged.get(item.product_id, 0) + item.quantity
        return [OrderLineCreate(product_id=product_id, quantity=quantity) for product_id, quantity in merged.items()]


class OrderLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: int
    name: str | None
    quantity: int
    unit_price: Decimal | None


class OrderRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    status: OrderStatus
    items: list[OrderLineRead] = Field(validation_alias="lines")
    total: Decimal | None
    created_at: datetime
