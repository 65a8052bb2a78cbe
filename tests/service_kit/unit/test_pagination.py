import pytest

from service_kit.errors import ValidationFailed
from service_kit.pagination import decode_cursor, encode_cursor


class TestCursor:
    def test_round_trips(self):
        assert decode_cursor(encode_cursor({"id": 42})) == {"id": 42}

    @pytest.mark.parametrize("garbage", ["!!!", "bm90IGpzb24", encode_cursor([1, 2])])  # type: ignore[arg-type]
    def test_rejects_what_we_did_not_issue(self, garbage):
        with pytest.raises(ValidationFailed):
            decode_cursor(garbage)
