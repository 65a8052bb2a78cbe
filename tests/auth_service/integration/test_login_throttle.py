"""Login throttling per account, kept in authDB: a few failures are free, then the email waits longer after
each, whichever address the attempts come from and whichever replica answers; a success clears it."""

import pytest
from fastapi.testclient import TestClient

from auth_service.main import create_app
from tests.auth_service.integration.test_api import _assert_envelope
from tests.support.concurrency import wait_until
from tests.support.users import AUTH, register, unique_email

FREE_ATTEMPTS = 5  # the default policy


def attempt(api, email: str, password: str, address: str = "203.0.113.7"):
    return api.post(f"{AUTH}/login", json={"email": email, "password": password}, headers={"X-Forwarded-For": address})


@pytest.fixture
def other_replica(settings):
    """A second app on the same database, as the second replica behind the gateway."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as replica:
        yield replica


class TestPerAccount:
    def test_twenty_wrong_passwords_are_throttled_from_any_mix_of_addresses(self, api, other_replica):
        account = register(api)
        responses = [
            attempt((api, other_replica)[n % 2], account.email, "wrong-password", address=f"198.51.{n}.{n * 7 % 250}")
            for n in range(20)
        ]
        statuses = [response.status_code for response in responses]
        assert statuses == [401] * FREE_ATTEMPTS + [429] * (20 - FREE_ATTEMPTS)
        for response in responses[FREE_ATTEMPTS:]:
            error = _assert_envelope(response, 429, "login_throttled")
            assert int(response.headers["Retry-After"]) >= 1 and error["details"]["retry_after"] >= 1
        # While blocked, not even the right password gets in: guessing cannot go faster than the block.
        _assert_envelope(attempt(api, account.email, account.password), 429, "login_throttled")

    def test_after_the_block_the_right_password_works_and_clears_the_count(self, api):
        account = register(api)
        for _ in range(FREE_ATTEMPTS):
            attempt(api, account.email, "wrong-password")
        assert wait_until(lambda: attempt(api, account.email, account.password).status_code == 200, timeout=10)
        assert [attempt(api, account.email, "wrong-password").status_code for _ in range(FREE_ATTEMPTS - 1)] == [
            401
        ] * (FREE_ATTEMPTS - 1)

    def test_a_success_forgets_the_failures_before_it(self, api):
        account = register(api)
        for _ in range(2):
            assert [attempt(api, account.email, "wrong-password").status_code for _ in range(FREE_ATTEMPTS - 1)] == [
                401
            ] * (FREE_ATTEMPTS - 1)
            assert attempt(api, account.email, account.password).status_code == 200

    def test_an_unknown_email_is_throttled_the_same_way(self, api):
        email = unique_email()
        statuses = [attempt(api, email, "wrong-password").status_code for _ in range(FREE_ATTEMPTS + 1)]
        assert statuses == [401] * FREE_ATTEMPTS + [429]

    def test_the_email_is_throttled_in_any_case_or_unicode_form(self, api):
        account = register(api)
        for _ in range(FREE_ATTEMPTS):
            attempt(api, account.email.upper(), "wrong-password")
        _assert_envelope(attempt(api, f"  {account.email}  ", account.password), 429, "login_throttled")

    def test_another_account_is_not_affected(self, api):
        blocked, other = register(api), register(api)
        for _ in range(FREE_ATTEMPTS + 2):
            attempt(api, blocked.email, "wrong-password")
        assert attempt(api, other.email, other.password).status_code == 200
