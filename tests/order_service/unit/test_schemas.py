import pytest
from pydantic import ValidationError

from order_service.schemas import OrderCreate


class TestOrderCreate:
    def test_lines_for_the_same_product_are_merged_in_first_seen_order(self):
        order = OrderCreate.model_validate(
            {
                "items": [
                    {"product_id": 2, "quantity": 1},
                    {"product_id": 1, "quantity": 1},
                    {"product_id": 2, "quantity": 3},
                ]
            }
        )
        assert [(line.product_id, line.quantity) for line in order.items] == [(2, 4), (1, 1)]

    @pytest.mark.parametrize(
        "body",
        [
            {"items": []},
            {"items": [{"product_id": 1, "quantity": 0}]},
            {"items": [{"product_id": 0, "quantity": 1}]},
            {"items": [{"product_id": 2**64, "quantity": 1}]},
            {"items": [{"product_id": 1, "quantity": 1, "unit_price": "0.01"}]},
            {"items": [{"product_id": 1, "quantity": 1}], "total": "0.01"},
            {},
        ],
        ids=["empty", "zero-quantity", "zero-id", "huge-id", "client-price", "client-total", "no-items"],
    )
    def test_rejects_what_a_client_may_not_say(self, body):
        with pytest.raises(ValidationError):
            OrderCreate.model_validate(body)
