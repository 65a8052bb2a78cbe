"""Every listing's cursor (products, orders): opaque to clients, the last id of the previous page to us;
anything else is a 422."""

import pytest

from service_kit.errors import ValidationFailed
from service_kit.pagination import encode_cursor, id_from_cursor


class TestCursor:
    def test_round_trips_the_last_id(self):
        assert id_from_cursor(encode_cursor({"id": 1234})) == 1234

    def test_is_opaque(self):
        assert "1234" not in encode_cursor({"id": 1234})

    @pytest.mark.parametrize(
        "cursor",
        [
            "not base64 !",
            encode_cursor({"id": "12"}),
            encode_cursor({"id": 0}),
            encode_cursor({"id": -5}),
            encode_cursor({"id": 2**63}),
            encode_cursor({"id": 1.5}),
            encode_cursor({"id": True}),
            encode_cursor({"id": 3, "extra": 1}),
            encode_cursor({"name": "x"}),
            encode_cursor({}),
        ],
        ids=["garbage", "string-id", "zero", "negative", "too-big", "float", "bool", "extra-key", "no-id", "empty"],
    )
    def test_refuses_a_cursor_we_did_not_issue(self, cursor):
        with pytest.raises(ValidationFailed) as exc:
            id_from_cursor(cursor)
        assert exc.value.details["fields"][0]["field"] == "cursor"
