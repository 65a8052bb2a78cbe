"""Every rule of the auth section of API.md, through the real gateway to two auth replicas on MariaDB.

The contract classes are the ones tests/auth_service/integration runs in-process; here they get the
gateway as their `api`. Below them: what only a real fleet can show (races across replicas, log lines)."""

import re
import uuid

import httpx
import pytest

from tests.auth_service.integration.test_api import (  # noqa: F401 - collected here again, through nginx
    TestChangeRole,
    TestFirstAdmin,
    TestForgedTokens,
    TestGetUser,
    TestJwks,
    TestLogin,
    TestLogout,
    TestMe,
    TestRefresh,
    TestRegister,
)
from tests.auth_service.integration.test_login_throttle import (  # noqa: F401 - through nginx too
    TestCountedBeforeChecked,
    TestDevices,
    TestPerAccount,
)
from tests.support.concurrency import burst
from tests.support.fleet import RunningFleet
from tests.support.tokens import TokenMinter
from tests.support.users import AUTH, Account, login, register, signed_up

AUTH_PROGRAMS = ("auth-1", "auth-2", "gateway")


@pytest.fixture(scope="module")
def api(fleet: RunningFleet):
    with httpx.Client(base_url=fleet.gateway_url, timeout=30.0) as client:
        yield client


@pytest.fixture(scope="module")
def signing_key(fleet: RunningFleet):
    return TokenMinter.from_pem_file(fleet.jwt_private_key_file).private_key


@pytest.fixture(scope="module")
def admin(api, fleet: RunningFleet) -> Account:
    return login(api, Account(id=0, email=fleet.admin_email, password=fleet.admin_password))


class TestRefreshRace:
    def test_a_token_refreshed_concurrently_on_both_replicas_is_spent_once(self, api):
        account = signed_up(api)
        responses = burst(
            lambda _: api.post(f"{AUTH}/refresh", json={"refresh_token": account.refresh_token}), range(20)
        )
        assert sorted(r.status_code for r in responses) == [200] + [401] * 19

    def test_concurrent_registrations_of_one_email_make_one_account(self, api):
        email = f"race-{uuid.uuid4().hex[:10]}@example.com"
        body = {"username": "racer", "email": email, "password": "password-123"}
        responses = burst(lambda _: api.post(f"{AUTH}/register", json=body), range(20))
        assert sorted(r.status_code for r in responses) == [201] + [409] * 19


class TestSecretsStayOutOfLogs:
    def test_no_password_or_hash_in_any_log_line(self, api, fleet: RunningFleet):
        password = f"never-log-{uuid.uuid4().hex}"
        account = register(api, password=password)
        login(api, account)
        api.post(f"{AUTH}/login", json={"email": account.email, "password": f"{password}-wrong"})
        api.post(f"{AUTH}/register", json={"username": "x", "email": "bad", "password": password})
        # Every earlier test of the session logged through the same programs: all of it is scanned.
        for program in AUTH_PROGRAMS:
            log = fleet.read_log(program)
            assert password not in log, program
            assert not re.search(r"\$argon2(id|i|d)\$", log), program
            assert "password_hash" not in log, program
