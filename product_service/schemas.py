import math
import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from product_service.models import StockReservation
from service_kit.db.types import MAX_ID, MAX_INT

MAX_STOCK = 1_000_000_000
MAX_ITEMS_PER_RESERVATION = 100
CENT = Decimal("0.01")
_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _parse_price(value: Any) -> Any:
    """A price as a string ("19.99") or a JSON number; floats are read by their shortest repr, so 19.999
    stays 19.999 (and is refused for its third decimal) instead of being rounded into something valid."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise PydanticCustomError("price_type", "Price must be a decimal string or a number.")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("price_not_finite", "Price must be a finite number.")
        return Decimal(repr(value))
    if isinstance(value, str):
        text = value.strip()
        if not _DECIMAL_TEXT.fullmatch(text):
            raise PydanticCustomError("price_format", "Price must be a decimal like 19.99.")
        try:
            return Decimal(text)
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid decimals
            raise PydanticCustomError("price_format", "Price must be a decimal like 19.99.") from exc
    raise PydanticCustomError("price_type", "Price must be a decimal string or a number.")


def _two_places(value: Decimal) -> str:
    return f"{value.quantize(CENT)}"


# > 0, at most two decimal places, and it fits Numeric(12, 2).
PriceIn = Annotated[Decimal, BeforeValidator(_parse_price), Field(gt=0, max_digits=12, decimal_places=2)]
# Always a string with two places, never a float.
Money = Annotated[Decimal, PlainSerializer(_two_places, return_type=str, when_used="always")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=10_000)]
Stock = Annotated[int, Field(strict=True, ge=0, le=MAX_STOCK)]
Version = Annotated[int, Field(strict=True, ge=1, le=MAX_INT, description="The version you read; stale: 409.")]
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]


class ProductCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""
    price: PriceIn = Field(examples=["19.99"])
    stock: Stock


class ProductReplace(BaseModel):
    """PUT: every field, as the product shall be."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description
    price: PriceIn = Field(examples=["19.99"])
    stock: Stock
    version: Version | None = None


class ProductUpdate(BaseModel):
    """PATCH: only the fields given change (at least one); none may be null."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    price: PriceIn | None = Field(default=None, examples=["19.99"])
    stock: Stock | None = None
    version: Version | None = None

    @field_validator("name", "description", "price", "stock", "version")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Only runs for fields the client sent: leaving a field out is fine, sending null is not.
        if value is None:
            raise PydanticCustomError("not_null", "May be left out, but not null.")
        return value

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        if not self.changes():
            raise PydanticCustomError("no_changes", "Send at least one of name, description, price, stock.")
        return self

    def changes(self) -> dict[str, Any]:
        """The product fields the client sent."""
        return self.model_dump(include={"name", "description", "price", "stock"}, exclude_unset=True)


class ProductRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    price: Money = Field(examples=["19.99"])
    stock: int
    version: int
    created_at: datetime
    updated_at: datetime


class ReservationItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Id
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_STOCK)]


class ReservationCreate(BaseModel):
    """Reserve stock for one order: every line or none."""

    model_config = ConfigDict(extra="forbid")

    # `order_id` is the key's name before this release, still sent by order replicas of that release: the
    # next release may drop it, once none of them is left.
    reservation_key: Id = Field(
        validation_alias=AliasChoices("reservation_key", "order_id"),
        description="The reservation key the order service chose for the order; reservations are idempotent by it "
        "(`order_id`, its former name, is accepted too).",
    )
    items: list[ReservationItem] = Field(min_length=1, max_length=MAX_ITEMS_PER_RESERVATION)

    def quantities(self) -> dict[int, int]:
        """Quantity per product, lines for the same product added together."""
        merged: dict[int, int] = {}
        for item in self.items:
            merged[item.product_id] = merged.get(item.product_id, 0) + item.quantity
        return merged


class ReservationLineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    product_id: int
    name: str = Field(description="The product's name when the stock was taken.")
    quantity: int
    unit_price: Money = Field(description="The product's price when the stock was taken.", examples=["19.99"])


class ReservationRead(BaseModel):
    """What one order holds. `held`: the stock in `items` is taken. `released`: it was given back (or, with no
    items, the order was released before any reservation arrived, and none ever will take stock for it)."""

    model_config = ConfigDict(from_attributes=True)

    reservation_key: int
    order_id: int = Field(
        description="The reservation key again, under its former name, for order replicas of the "
        "previous release; to be dropped in the next.",
        deprecated=True,
    )
    status: Literal["held", "released"]
    items: list[ReservationLineRead]
    created_at: datetime
    released_at: datetime | None

    @classmethod
    def of(cls, reservation: StockReservation) -> "ReservationRead":
        return cls(
            reservation_key=reservation.reservation_key,
            order_id=reservation.reservation_key,
            status="held" if reservation.released_at is None else "released",
            items=[ReservationLineRead.model_validate(line) for line in reservation.lines],
            created_at=reservation.created_at,
            released_at=reservation.released_at,
        )
