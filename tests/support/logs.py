"""Reading the fleet's logs: every program writes one JSON object per line."""

import json
from typing import Any


def json_records(text: str) -> list[dict[str, Any]]:
    """The JSON objects among the lines of a log (other lines, e.g. nginx's error lines, are skipped)."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
