"""The auth section of API.md, rule by rule. The same classes run in-process here and through the real
gateway in tests/fleet/test_auth.py; they need the fixtures `api`, `signing_key` and `admin`."""

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from service_kit.auth import public_jwk
from tests.support.users import AUTH, bearer, login, register, signed_up, unique_email

ISSUER, AUDIENCE = "ecommerce-auth", "ecommerce-api"
USER_FIELDS = {"id", "username", "email", "role", "created_at"}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user_id: int, **overrides):
    now = datetime.now(UTC)
    claims = {
        "sub": str(user_id),
        "role": "user",
        "type": "access",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": uuid.uuid4().hex,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    claims.update(overrides)
    return claims


def _numeric(claims: dict) -> dict:
    return {key: int(value.timestamp()) if isinstance(value, datetime) else value for key, value in claims.items()}


def _sign(signing_key, claims) -> str:
    kid = public_jwk(signing_key.public_key())["kid"]
    return jwt.encode(claims, signing_key, algorithm="EdDSA", headers={"kid": kid})


def _assert_envelope(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details", "request_id"}
    assert error["request_id"] == response.headers["x-request-id"]
    if code:
        assert error["code"] == code
    return error


class TestRegister:
    def test_creates_a_plain_user(self, api):
        email = unique_email()
        response = api.post(f"{AUTH}/register", json={"username": "ann", "email": email, "password": "password-123"})
        assert response.status_code == 201
        body = response.json()
        assert set(body) == USER_FIELDS
        assert body["email"] == email and body["role"] == "user" and body["username"] == "ann"
        assert response.headers["location"] == f"{AUTH}/users/{body['id']}"

    def test_never_returns_the_password_or_its_hash(self, api):
        response = api.post(
            f"{AUTH}/register", json={"username": "ann", "email": unique_email(), "password": "visible-secret-1"}
        )
        assert "visible-secret-1" not in response.text
        assert "argon2" not in response.text and "password" not in response.json()

    def test_role_in_the_body_never_makes_an_admin(self, api):
        account = register(api, role="admin")
        login(api, account)
        assert api.get(f"{AUTH}/me", headers=account.headers).json()["role"] == "user"

    def test_duplicate_email_is_409_whatever_its_case(self, api):
        email = unique_email()
        register(api, email=email)
        response = api.post(
            f"{AUTH}/register", json={"username": "b", "email": email.upper(), "password": "password-123"}
        )
        _assert_envelope(response, 409, "email_taken")

    @pytest.mark.parametrize("password", ["", "short", "1234567"])
    def test_password_shorter_than_8_is_422_naming_the_field(self, api, password):
        response = api.post(f"{AUTH}/register", json={"username": "c", "email": unique_email(), "password": password})
        error = _assert_envelope(response, 422, "validation_error")
        assert [field["field"] for field in error["details"]["fields"]] == ["password"]

    def test_accents_make_another_email_but_unicode_forms_and_case_do_not(self, api):
        local = unique_email().split("@")[0]
        register(api, email=f"jos\u00e9.{local}@example.com")
        register(api, email=f"jose.{local}@example.com")  # MySQL's default collation called this a duplicate
        for same in (f"JOS\u00c9.{local}@example.com", f"jose\u0301.{local}@example.com"):
            response = api.post(f"{AUTH}/register", json={"username": "b", "email": same, "password": "password-123"})
            _assert_envelope(response, 409, "email_taken")

    def test_password_of_exactly_8_is_accepted(self, api):
        register(api, password="12345678")

    @pytest.mark.parametrize(
        "body",
        [
            {"username": "d", "email": "not-an-email", "password": "password-123"},
            {"username": "", "email": "e@example.com", "password": "password-123"},
            {"email": "e@example.com", "password": "password-123"},
            {"username": "d", "email": "e@example.com", "password": 12345678},
            [],
        ],
        ids=["bad-email", "empty-username", "missing-username", "password-not-a-string", "not-an-object"],
    )
    def test_bad_input_is_a_422_envelope(self, api, body):
        _assert_envelope(api.post(f"{AUTH}/register", json=body), 422, "validation_error")


class TestLogin:
    def test_gives_a_bearer_pair(self, api):
        account = register(api)
        response = api.post(f"{AUTH}/login", json={"email": account.email, "password": account.password})
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
        assert body["token_type"] == "bearer" and body["expires_in"] == 900

    def test_access_token_carries_the_contract_claims(self, api):
        account = signed_up(api)
        header = jwt.get_unverified_header(account.access_token)
        claims = jwt.decode(account.access_token, options={"verify_signature": False})
        assert header["alg"] in {"EdDSA", "RS256"} and header["kid"]
        assert claims["sub"] == str(account.id) and claims["role"] == "user" and claims["type"] == "access"
        assert claims["exp"] - claims["iat"] == 900 and claims["jti"]

    def test_email_is_case_insensitive(self, api):
        account = register(api)
        response = api.post(f"{AUTH}/login", json={"email": account.email.upper(), "password": account.password})
        assert response.status_code == 200

    def test_wrong_password_and_unknown_email_are_indistinguishable(self, api):
        account = register(api)
        wrong = api.post(f"{AUTH}/login", json={"email": account.email, "password": "wrong-password"})
        unknown = api.post(f"{AUTH}/login", json={"email": unique_email(), "password": "wrong-password"})
        first, second = _assert_envelope(wrong, 401), _assert_envelope(unknown, 401)
        assert (first["code"], first["message"], first["details"]) == (
            second["code"],
            second["message"],
            second["details"],
        )
        assert wrong.headers.get("www-authenticate") == unknown.headers.get("www-authenticate")

    def test_missing_fields_are_422(self, api):
        _assert_envelope(api.post(f"{AUTH}/login", json={"email": "x@example.com"}), 422, "validation_error")


class TestRefresh:
    def test_gives_a_new_pair_and_spends_the_old_token(self, api):
        account = signed_up(api)
        response = api.post(f"{AUTH}/refresh", json={"refresh_token": account.refresh_token})
        assert response.status_code == 200
        pair = response.json()
        assert pair["refresh_token"] != account.refresh_token
        assert api.get(f"{AUTH}/me", headers=bearer(pair["access_token"])).status_code == 200

    def test_reusing_a_spent_token_revokes_the_whole_family(self, api):
        account = signed_up(api)
        rotated = api.post(f"{AUTH}/refresh", json={"refresh_token": account.refresh_token}).json()
        reuse = api.post(f"{AUTH}/refresh", json={"refresh_token": account.refresh_token})
        _assert_envelope(reuse, 401, "invalid_refresh_token")
        # The thief's replay also burnt the legitimate client's newest token.
        after = api.post(f"{AUTH}/refresh", json={"refresh_token": rotated["refresh_token"]})
        _assert_envelope(after, 401, "invalid_refresh_token")

    def test_other_logins_of_the_same_user_survive_a_reuse(self, api):
        account = signed_up(api)
        other_session = api.post(f"{AUTH}/login", json={"email": account.email, "password": account.password}).json()
        api.post(f"{AUTH}/refresh", json={"refresh_token": account.refresh_token})
        api.post(f"{AUTH}/refresh", json={"refresh_token": account.refresh_token})
        assert api.post(f"{AUTH}/refresh", json={"refresh_token": other_session["refresh_token"]}).status_code == 200

    def test_unknown_token_is_401(self, api):
        _assert_envelope(api.post(f"{AUTH}/refresh", json={"refresh_token": "made-up"}), 401, "invalid_refresh_token")

    def test_refresh_follows_a_role_change(self, api, admin):
        account = signed_up(api)
        api.patch(f"{AUTH}/users/{account.id}", json={"role": "admin"}, headers=admin.headers)
        pair = api.post(f"{AUTH}/refresh", json={"refresh_token": account.refresh_token}).json()
        assert jwt.decode(pair["access_token"], options={"verify_signature": False})["role"] == "admin"


class TestLogout:
    def test_the_refresh_token_no_longer_refreshes(self, api):
        account = signed_up(api)
        assert api.post(f"{AUTH}/logout", json={"refresh_token": account.refresh_token}).status_code == 204
        _assert_envelope(api.post(f"{AUTH}/refresh", json={"refresh_token": account.refresh_token}), 401)

    def test_is_idempotent_and_reveals_nothing(self, api):
        assert api.post(f"{AUTH}/logout", json={"refresh_token": "never-issued"}).status_code == 204


class TestMe:
    def test_returns_the_caller(self, api):
        account = signed_up(api)
        body = api.get(f"{AUTH}/me", headers=account.headers).json()
        assert set(body) == USER_FIELDS and body["id"] == account.id and body["email"] == account.email

    def test_without_a_token_is_401(self, api):
        response = api.get(f"{AUTH}/me")
        _assert_envelope(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"


class TestForgedTokens:
    def test_alg_none_is_401(self, api, signing_key):
        account = register(api)
        kid = public_jwk(signing_key.public_key())["kid"]
        claims = _numeric(_claims(account.id, role="admin"))
        token = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}."
        _assert_envelope(api.get(f"{AUTH}/me", headers=bearer(token)), 401)

    def test_hs256_signed_with_the_public_key_is_401(self, api, signing_key):
        account = register(api)
        public = signing_key.public_key()
        kid = public_jwk(public)["kid"]
        for secret in (
            public.public_bytes(Encoding.Raw, PublicFormat.Raw),
            public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        ):
            # Crafted by hand: PyJWT itself refuses to HMAC with something that looks like a public key.
            signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(_numeric(_claims(account.id)))}"
            mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
            token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
            _assert_envelope(api.get(f"{AUTH}/me", headers=bearer(token)), 401)

    def test_tampered_claims_are_401(self, api):
        account = signed_up(api)
        header, payload, signature = account.access_token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        forged = f"{header}.{_b64({**claims, 'role': 'admin'})}.{signature}"
        _assert_envelope(api.get(f"{AUTH}/me", headers=bearer(forged)), 401)

    def test_expired_token_is_401(self, api, signing_key):
        account = register(api)
        past = datetime.now(UTC) - timedelta(hours=1)
        token = _sign(signing_key, _claims(account.id, iat=past, exp=past + timedelta(minutes=15)))
        _assert_envelope(api.get(f"{AUTH}/me", headers=bearer(token)), 401)

    def test_refresh_token_used_as_access_is_401(self, api, signing_key):
        account = signed_up(api)
        _assert_envelope(api.get(f"{AUTH}/me", headers=bearer(account.refresh_token)), 401)
        typed_refresh = _sign(signing_key, _claims(account.id, type="refresh"))
        _assert_envelope(api.get(f"{AUTH}/me", headers=bearer(typed_refresh)), 401)

    def test_a_correctly_signed_token_is_accepted(self, api, signing_key):
        """The control for the forgeries above: the same minting with nothing wrong passes."""
        account = register(api)
        assert api.get(f"{AUTH}/me", headers=bearer(_sign(signing_key, _claims(account.id)))).status_code == 200

    @pytest.mark.parametrize(
        "times",
        [
            {"iat": timedelta(seconds=2)},  # auth's clock a little ahead of the verifier's
            {"iat": timedelta(minutes=-5), "exp": timedelta(seconds=-2)},  # a little behind
        ],
        ids=["issued-ahead", "expired-just-now"],
    )
    def test_a_token_from_a_clock_a_little_off_is_accepted(self, api, signing_key, times):
        # Within JWT_LEEWAY_SECONDS (5 s) of the verifier's clock, a token's times are clock skew.
        account = register(api)
        now = datetime.now(UTC)
        claims = _claims(account.id, **{name: now + offset for name, offset in times.items()})
        assert api.get(f"{AUTH}/me", headers=bearer(_sign(signing_key, claims))).status_code == 200


class TestGetUser:
    def test_self(self, api):
        account = signed_up(api)
        assert api.get(f"{AUTH}/users/{account.id}", headers=account.headers).json()["id"] == account.id

    def test_another_users_id_is_403(self, api):
        account, other = signed_up(api), register(api)
        _assert_envelope(api.get(f"{AUTH}/users/{other.id}", headers=account.headers), 403, "forbidden")

    def test_admin_reads_anyone(self, api, admin):
        other = register(api)
        assert api.get(f"{AUTH}/users/{other.id}", headers=admin.headers).json()["email"] == other.email

    def test_unknown_id_is_404(self, api, admin):
        _assert_envelope(api.get(f"{AUTH}/users/999999999", headers=admin.headers), 404, "not_found")

    def test_non_numeric_id_is_422(self, api, admin):
        _assert_envelope(api.get(f"{AUTH}/users/abc", headers=admin.headers), 422, "validation_error")


class TestChangeRole:
    def test_admin_promotes_a_user(self, api, admin):
        account = register(api)
        response = api.patch(f"{AUTH}/users/{account.id}", json={"role": "admin"}, headers=admin.headers)
        assert response.status_code == 200 and response.json()["role"] == "admin"
        login(api, account)
        assert jwt.decode(account.access_token, options={"verify_signature": False})["role"] == "admin"

    def test_non_admin_is_403(self, api):
        account = signed_up(api)
        response = api.patch(f"{AUTH}/users/{account.id}", json={"role": "admin"}, headers=account.headers)
        _assert_envelope(response, 403)

    def test_unknown_role_is_422(self, api, admin):
        account = register(api)
        response = api.patch(f"{AUTH}/users/{account.id}", json={"role": "root"}, headers=admin.headers)
        _assert_envelope(response, 422, "validation_error")

    def test_unknown_user_is_404(self, api, admin):
        response = api.patch(f"{AUTH}/users/999999999", json={"role": "user"}, headers=admin.headers)
        _assert_envelope(response, 404)


class TestJwks:
    def test_publishes_the_key_that_verifies_access_tokens(self, api):
        account = signed_up(api)
        keys = api.get(f"{AUTH}/.well-known/jwks.json").json()["keys"]
        kid = jwt.get_unverified_header(account.access_token)["kid"]
        jwk = next(key for key in keys if key["kid"] == kid)
        assert "d" not in jwk
        public_key = jwt.PyJWK.from_dict(jwk).key
        claims = jwt.decode(account.access_token, public_key, algorithms=["EdDSA"], audience=AUDIENCE)
        assert claims["sub"] == str(account.id)


class TestFirstAdmin:
    def test_exists_and_is_admin(self, api, admin):
        assert api.get(f"{AUTH}/me", headers=admin.headers).json()["role"] == "admin"


class TestIdsOutOfRange:
    @pytest.mark.parametrize("user_id", ["0", "-1", "9223372036854775808", "100000000000000000000"])
    def test_an_id_no_user_can_have_is_422(self, api, admin, user_id):
        _assert_envelope(api.get(f"{AUTH}/users/{user_id}", headers=admin.headers), 422, "validation_error")


class TestControlCharacters:
    @pytest.mark.parametrize(
        "body",
        [
            {"username": "ann", "email": "a\u0000b@example.com", "password": "password-123"},
            {"username": "a\u0007nn", "email": "ann@example.com", "password": "password-123"},
        ],
        ids=["nul-in-email", "bell-in-username"],
    )
    def test_are_refused_in_names_and_emails(self, api, body):
        _assert_envelope(api.post(f"{AUTH}/register", json=body), 422, "validation_error")
