"""Request bodies: every bad input is refused by validation (a 422 naming the field), never reaches the database."""

from decimal import Decimal

import pytest
from pydantic import ValidationError

from product_service.schemas import (
    MAX_STOCK,
    ProductCreate,
    ProductRead,
    ProductReplace,
    ProductUpdate,
    ReservationCreate,
)

VALID = {"name": "Widget", "description": "A fine widget.", "price": "19.99", "stock": 5}


def _fields(exc: pytest.ExceptionInfo[ValidationError]) -> set[str]:
    return {".".join(str(part) for part in error["loc"]) for error in exc.value.errors()}


class TestPrice:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("19.99", Decimal("19.99")),
            ("19.9", Decimal("19.9")),
            ("19", Decimal("19")),
            (" 0.01 ", Decimal("0.01")),
            (19.99, Decimal("19.99")),
            (0.1, Decimal("0.1")),
            (7, Decimal("7")),
            ("9999999999.99", Decimal("9999999999.99")),
        ],
    )
    def test_accepts_a_positive_amount_with_at_most_two_places(self, given, expected):
        assert ProductCreate.model_validate({**VALID, "price": given}).price == expected

    @pytest.mark.parametrize(
        "given",
        [
            "19.999",
            19.999,
            0.001,
            "0",
            0,
            "-1",
            -0.5,
            "0.00",
            1e400,  # what json.loads makes of 1e400
            float("nan"),
            float("-inf"),
            "NaN",
            "Infinity",
            "1e2",
            "1,5",
            "",
            "abc",
            "10000000000.00",
            10**30,
            1e20,
            True,
            None,
            [],
            {"amount": 1},
        ],
    )
    def test_refuses_anything_else(self, given):
        with pytest.raises(ValidationError) as exc:
            ProductCreate.model_validate({**VALID, "price": given})
        assert _fields(exc) == {"price"}

    def test_is_read_back_as_a_string_with_two_places(self):
        product = ProductRead(
            id=1,
            name="n",
            description="",
            price=Decimal("19.9"),
            stock=0,
            version=1,
            created_at="2026-01-01T00:00:00Z",
            updated_at="2026-01-01T00:00:00Z",
        )
        assert product.model_dump(mode="json")["price"] == "19.90"
        assert '"price":"19.90"' in product.model_dump_json()

    def test_is_documented_as_a_string_in_responses(self):
        schema = ProductRead.model_json_schema(mode="serialization")
        assert schema["properties"]["price"]["type"] == "string"


class TestProductCreate:
    def test_a_complete_body_is_valid(self):
        product = ProductCreate.model_validate(VALID)
        assert (product.name, product.stock) == ("Widget", 5)

    def test_description_may_be_left_out(self):
        assert ProductCreate.model_validate({"name": "n", "price": "1.00", "stock": 0}).description == ""

    @pytest.mark.parametrize("name", ["", "   ", "x" * 201, 5, None])
    def test_refuses_a_bad_name(self, name):
        with pytest.raises(ValidationError) as exc:
            ProductCreate.model_validate({**VALID, "name": name})
        assert _fields(exc) == {"name"}

    def test_a_name_of_200_characters_is_fine_and_is_trimmed(self):
        assert ProductCreate.model_validate({**VALID, "name": f" {'x' * 200} "}).name == "x" * 200

    @pytest.mark.parametrize("stock", [-1, MAX_STOCK + 1, 1.5, 2.0, "3", True, None])
    def test_refuses_a_bad_stock(self, stock):
        with pytest.raises(ValidationError) as exc:
            ProductCreate.model_validate({**VALID, "stock": stock})
        assert _fields(exc) == {"stock"}

    @pytest.mark.parametrize("stock", [0, MAX_STOCK])
    def test_accepts_stock_at_the_bounds(self, stock):
        assert ProductCreate.model_validate({**VALID, "stock": stock}).stock == stock

    @pytest.mark.parametrize("missing", ["name", "price", "stock"])
    def test_requires_the_field(self, missing):
        body = {key: value for key, value in VALID.items() if key != missing}
        with pytest.raises(ValidationError) as exc:
            ProductCreate.model_validate(body)
        assert _fields(exc) == {missing}

    @pytest.mark.parametrize("extra", ["version", "id", "colour"])
    def test_refuses_unknown_fields(self, extra):
        with pytest.raises(ValidationError) as exc:
            ProductCreate.model_validate({**VALID, extra: 1})
        assert _fields(exc) == {extra}


class TestProductReplace:
    @pytest.mark.parametrize("missing", ["name", "description", "price", "stock"])
    def test_requires_every_field(self, missing):
        body = {key: value for key, value in VALID.items() if key != missing}
        with pytest.raises(ValidationError) as exc:
            ProductReplace.model_validate(body)
        assert _fields(exc) == {missing}

    def test_version_is_optional_and_must_be_a_positive_integer(self):
        assert ProductReplace.model_validate(VALID).version is None
        assert ProductReplace.model_validate({**VALID, "version": 3}).version == 3
        for bad in (0, -1, "3", 1.0):
            with pytest.raises(ValidationError):
                ProductReplace.model_validate({**VALID, "version": bad})


class TestProductUpdate:
    def test_only_the_given_fields_change(self):
        assert ProductUpdate.model_validate({"stock": 9, "version": 2}).changes() == {"stock": 9}

    @pytest.mark.parametrize("field", ["name", "description", "price", "stock", "version"])
    def test_null_is_refused(self, field):
        with pytest.raises(ValidationError) as exc:
            ProductUpdate.model_validate({"stock": 1, field: None} if field != "stock" else {"name": "n", field: None})
        assert _fields(exc) == {field}

    @pytest.mark.parametrize("body", [{}, {"version": 2}])
    def test_a_patch_that_changes_nothing_is_refused(self, body):
        with pytest.raises(ValidationError):
            ProductUpdate.model_validate(body)

    def test_fields_are_validated_like_on_create(self):
        with pytest.raises(ValidationError) as exc:
            ProductUpdate.model_validate({"price": "19.999", "stock": -1, "name": ""})
        assert _fields(exc) == {"price", "stock", "name"}

    def test_refuses_unknown_fields(self):
        with pytest.raises(ValidationError):
            ProductUpdate.model_validate({"stock": 1, "sku": "x"})


class TestReservationCreate:
    def test_lines_for_one_product_are_added_together(self):
        body = {
            "order_id": 1,
            "items": [
                {"product_id": 5, "quantity": 2},
                {"product_id": 3, "quantity": 1},
                {"product_id": 5, "quantity": 4},
            ],
        }
        assert ReservationCreate.model_validate(body).quantities() == {5: 6, 3: 1}

    @pytest.mark.parametrize(
        "body",
        [
            {"order_id": 1, "items": []},
            {"order_id": 0, "items": [{"product_id": 1, "quantity": 1}]},
            {"order_id": 2**63, "items": [{"product_id": 1, "quantity": 1}]},
            {"order_id": "1", "items": [{"product_id": 1, "quantity": 1}]},
            {"order_id": 1, "items": [{"product_id": 1, "quantity": 0}]},
            {"order_id": 1, "items": [{"product_id": 0, "quantity": 1}]},
            {"order_id": 1, "items": [{"product_id": 1, "quantity": 1.5}]},
            {"order_id": 1, "items": [{"product_id": 1, "quantity": 1, "price": "0.01"}]},
            {"order_id": 1, "items": [{"product_id": 1, "quantity": 1}], "user_id": 3},
            {"order_id": 1, "items": [{"product_id": n, "quantity": 1} for n in range(1, 102)]},
        ],
        ids=[
            "no-items",
            "order-zero",
            "order-too-big",
            "order-as-string",
            "quantity-zero",
            "product-zero",
            "fractional-quantity",
            "client-price",
            "unknown-field",
            "too-many-items",
        ],
    )
    def test_refuses_a_bad_body(self, body):
        with pytest.raises(ValidationError):
            ReservationCreate.model_validate(body)
