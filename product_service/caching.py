"""How long the gateway may keep a catalogue read (nginx/nginx.conf.template, "the catalogue cache").

On an anonymous GET of the catalogue the gateway sends `X-Gateway-Cache-Seconds: N`, the lifetime it wants.
The answer is stamped `X-Accel-Expires: @t`, t being the last whole second of those N: nginx keeps it until
t ends, so it is served at most N seconds after it was made. (A relative lifetime would be counted from the
start of the second nginx stored the answer in, and could keep it almost a second longer.) nginx never
passes the stamp on to the client; a request without the header is never stamped, so nothing else caches."""

import time
from typing import Annotated

from fastapi import Header, Response

MAX_SECONDS = 3600
STALENESS_NOTE = (
    "Through the gateway, an anonymous read may come from its catalogue cache: at most `CATALOGUE_CACHE_SECONDS`"
    " (default 1) old. A read with `Authorization` always reaches the service."
)

GatewayCacheSeconds = Annotated[str | None, Header(alias="X-Gateway-Cache-Seconds", include_in_schema=False)]


def stamp_expiry(response: Response, requested: str | None) -> None:
    """Let the gateway keep this answer for the seconds it asked for (1 to MAX_SECONDS; anything else: not at
    all)."""
    if requested is None or not (requested.isascii() and requested.isdigit()):
        return
    seconds = int(requested)
    if 1 <= seconds <= MAX_SECONDS:
        response.headers["X-Accel-Expires"] = f"@{int(time.time()) + seconds - 1}"
