"""Login throttling, kept in authDB: every attempt is counted before its password is checked, against the
client's device if it holds the account's device cookie, else against the email; a few are free, then the
subject waits longer after each, whichever address the attempts come from and whichever replica answers.

The classes take any `api` (in-process here, the real gateway in tests/fleet/test_auth.py). Each attempt
sends exactly the device cookie it is given and keeps none, so tests sharing a client cannot leak devices."""

import httpx
import pytest
from fastapi.testclient import TestClient

from auth_service.main import create_app
from tests.auth_service.integration.test_api import _assert_envelope
from tests.support.concurrency import burst, wait_until
from tests.support.users import AUTH, register, unique_email

FREE_ATTEMPTS = 5  # the default policy
LOGIN = f"{AUTH}/login"


def attempt(
    api: httpx.Client, email: str, password: str, *, address: str = "203.0.113.7", device: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": address}
    if device is not None:
        headers["Cookie"] = f"device={device}"
    response = api.post(LOGIN, json={"email": email, "password": password}, headers=headers)
    api.cookies.clear()
    return response


def device_of(response: httpx.Response) -> str:
    """The device cookie a successful login set."""
    assert response.status_code == 200, response.text
    return response.cookies["device"]


def guess_until_throttled(api: httpx.Client, email: str) -> None:
    statuses = [attempt(api, email, "wrong-password").status_code for _ in range(FREE_ATTEMPTS + 1)]
    assert statuses == [401] * FREE_ATTEMPTS + [429], statuses


@pytest.fixture
def other_replica(settings):
    """A second app on the same database, as the second replica behind the gateway."""
    with TestClient(create_app(settings), raise_server_exceptions=False) as replica:
        yield replica


class TestPerAccount:
    def test_twenty_wrong_passwords_are_throttled_from_any_mix_of_addresses(self, api):
        account = register(api)
        responses = [
            attempt(api, account.email, "wrong-password", address=f"198.51.{n}.{n * 7 % 250}") for n in range(20)
        ]
        statuses = [response.status_code for response in responses]
        assert statuses == [401] * FREE_ATTEMPTS + [429] * (20 - FREE_ATTEMPTS)
        for response in responses[FREE_ATTEMPTS:]:
            error = _assert_envelope(response, 429, "login_throttled")
            assert error["details"]["retry_after_seconds"] == int(response.headers["Retry-After"]) >= 1
        # While blocked, not even the right password gets in from a client the account does not know.
        _assert_envelope(attempt(api, account.email, account.password), 429, "login_throttled")

    def test_after_the_block_the_right_password_works_and_clears_the_count(self, api):
        account = register(api)
        guess_until_throttled(api, account.email)
        assert wait_until(lambda: attempt(api, account.email, account.password).status_code == 200, timeout=10)
        statuses = [attempt(api, account.email, "wrong-password").status_code for _ in range(FREE_ATTEMPTS - 1)]
        assert statuses == [401] * (FREE_ATTEMPTS - 1)

    def test_a_success_forgets_the_failures_before_it(self, api):
        account = register(api)
        for _ in range(2):
            statuses = [attempt(api, account.email, "wrong-password").status_code for _ in range(FREE_ATTEMPTS - 1)]
            assert statuses == [401] * (FREE_ATTEMPTS - 1)
            assert attempt(api, account.email, account.password).status_code == 200

    def test_an_unknown_email_is_throttled_the_same_way(self, api):
        guess_until_throttled(api, unique_email())

    def test_the_email_is_throttled_in_any_case_or_unicode_form(self, api):
        account = register(api)
        for _ in range(FREE_ATTEMPTS):
            attempt(api, account.email.upper(), "wrong-password")
        _assert_envelope(attempt(api, f"  {account.email}  ", account.password), 429, "login_throttled")

    def test_another_account_is_not_affected(self, api):
        blocked, other = register(api), register(api)
        guess_until_throttled(api, blocked.email)
        assert attempt(api, other.email, other.password).status_code == 200


class TestCountedBeforeChecked:
    def test_forty_guesses_sent_at_once_check_at_most_the_free_attempts(self, api):
        # A 401 means the password was hashed and compared; a 429 means it was refused before that.
        account = register(api)
        responses = burst(lambda n: attempt(api, account.email, f"wrong-password-{n}"), range(40))
        statuses = sorted(response.status_code for response in responses)
        assert set(statuses) <= {401, 429} and statuses.count(401) <= FREE_ATTEMPTS, statuses
        assert statuses.count(429) >= 40 - FREE_ATTEMPTS


class TestDevices:
    def test_the_owner_gets_in_from_a_known_device_while_guessers_are_throttled(self, api):
        account = register(api)
        device = device_of(attempt(api, account.email, account.password))
        guess_until_throttled(api, account.email)
        _assert_envelope(attempt(api, account.email, account.password), 429, "login_throttled")
        assert attempt(api, account.email, account.password, device=device).status_code == 200

    def test_a_known_device_has_a_limit_of_its_own(self, api):
        account = register(api)
        device = device_of(attempt(api, account.email, account.password))
        statuses = [
            attempt(api, account.email, "wrong-password", device=device).status_code for _ in range(FREE_ATTEMPTS + 1)
        ]
        assert statuses == [401] * FREE_ATTEMPTS + [429]
        _assert_envelope(attempt(api, account.email, account.password, device=device), 429, "login_throttled")
        # ... and its guesses are not the account's: a client the account does not know still gets in.
        assert attempt(api, account.email, account.password).status_code == 200

    def test_a_device_known_to_another_account_is_a_new_device(self, api):
        owner, target = register(api), register(api)
        device = device_of(attempt(api, owner.email, owner.password))
        guess_until_throttled(api, target.email)
        _assert_envelope(attempt(api, target.email, target.password, device=device), 429, "login_throttled")

    def test_a_tampered_cookie_is_a_new_device(self, api):
        account = register(api)
        device = device_of(attempt(api, account.email, account.password))
        guess_until_throttled(api, account.email)
        header, claims, signature = device.split(".")
        forged = f"{header}.{claims}.{signature[:-4]}AAAA"
        _assert_envelope(attempt(api, account.email, account.password, device=forged), 429, "login_throttled")
        _assert_envelope(attempt(api, account.email, account.password, device="garbage"), 429, "login_throttled")

    def test_the_cookie_is_httponly_strict_and_only_sent_to_login(self, api):
        account = register(api)
        set_cookie = attempt(api, account.email, account.password).headers["set-cookie"]
        attributes = {part.strip().split("=")[0].lower() for part in set_cookie.split(";")}
        assert {"httponly", "max-age", "path"} <= attributes, set_cookie
        assert "samesite=strict" in set_cookie.lower() and f"path={LOGIN}" in set_cookie.lower()
        assert "secure" not in attributes  # plain HTTP here; behind TLS the gateway says https


class TestInProcess:
    """What the gateway would hide: its headers replace the client's."""

    def test_the_cookie_is_secure_behind_tls(self, api):
        account = register(api)
        response = api.post(
            LOGIN, json={"email": account.email, "password": account.password}, headers={"X-Forwarded-Proto": "https"}
        )
        api.cookies.clear()
        assert "secure" in {part.strip().lower() for part in response.headers["set-cookie"].split(";")}

    def test_both_replicas_count_against_one_subject(self, api, other_replica):
        account = register(api)
        replicas = (api, other_replica)
        statuses = [attempt(replicas[n % 2], account.email, "wrong-password").status_code for n in range(8)]
        assert statuses == [401] * FREE_ATTEMPTS + [429] * 3
