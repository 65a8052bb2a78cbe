"""What every outgoing HTTP client of a replica shares."""

import ssl


def tls_verification(url: str) -> ssl.SSLContext | bool:
    """The `verify` for an httpx client of `url`. httpx loads the system's CA bundle into every client it makes
    (a visible share of each replica's start, per client); a plain-http URL never needs it, so it gets a context that
    trusts nothing: any TLS such a client might still meet fails closed. An https URL verifies as usual."""
    if url.lower().startswith("https://"):
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
