"""Outgoing clients verify TLS wherever they may meet it, and never load a CA bundle they cannot use."""

import ssl

import pytest

from service_kit.outbound import tls_verification


@pytest.mark.parametrize("url", ["https://auth.example.com/jwks.json", "HTTPS://product-service:8443"])
def test_an_https_url_verifies_against_the_system_cas(url: str):
    assert tls_verification(url) is True


@pytest.mark.parametrize("url", ["http://auth-service:8000/api/v0/auth/.well-known/jwks.json", "http://127.0.0.1:8081"])
def test_a_plain_http_url_gets_a_context_that_trusts_nothing(url: str):
    context = tls_verification(url)
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert context.get_ca_certs() == []
