"""Keyset pages: `{items, next_cursor}` where the cursor is an opaque token for the last key seen."""

import base64
import binascii
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from service_kit.errors import ValidationFailed

T = TypeVar("T")


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
