"""Keyset pages: `{items, next_cursor}` where the cursor is an opaque token for the last key seen."""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from service_kit.db.types import MAX_ID
from service_kit.errors import ValidationFailed

T = TypeVar("T")
Row = TypeVar("Row")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(key: dict[str, Any]) -> str:
    """Opaque to clients; they hand it back unchanged."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The key inside a cursor; 422 for anything we did not issue."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise invalid_cursor() from exc
    if not isinstance(key, dict):
        raise invalid_cursor()
    return key


def invalid_cursor() -> ValidationFailed:
    """The 422 for a cursor we did not issue (also for one whose key a service finds wrong)."""
    return ValidationFailed(details={"fields": [{"field": "cursor", "in": "query", "message": "Invalid cursor."}]})


def id_from_cursor(cursor: str) -> int:
    """The last id the previous page showed; 422 for a cursor we did not issue."""
    key = decode_cursor(cursor)
    last_id = key.get("id")
    if set(key) != {"id"} or type(last_id) is not int or not 0 < last_id <= MAX_ID:
        raise invalid_cursor()
    return last_id


def keyset_page(rows: Sequence[Row], *, limit: int, id_of: Callable[[Row], int]) -> tuple[Sequence[Row], str | None]:
    """Split the `limit + 1` rows a query fetched into the page and the next page's cursor (None on the last)."""
    page = rows[:limit]
    return page, encode_cursor({"id": id_of(page[-1])}) if len(rows) > limit else None
