import threading
from asyncio import run

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth_service import security
from auth_service.config import Settings
from service_kit.auth import Principal, Role, TokenVerifier
from service_kit.db import utcnow


class TestPasswords:
    def test_hash_is_argon2id_and_verifies(self):
        password_hash = run(security.hash_password("correct horse"))
        assert password_hash.startswith("$argon2id$")
        assert run(security.verify_password("correct horse", password_hash))[0]
        assert not run(security.verify_password("wrong horse", password_hash))[0]

    def test_unknown_user_still_costs_one_hash_verification(self, monkeypatch):
        calls = []
        real_verify = security.password_hasher.verify

        def counting_verify(*args):
            calls.append(args)
            return real_verify(*args)

        monkeypatch.setattr(security.password_hasher, "verify", counting_verify)
        assert run(security.verify_password("whatever", None)) == (False, None)
        assert len(calls) == 1

    def test_outdated_parameters_are_rehashed(self):
        from pwdlib import PasswordHash
        from pwdlib.hashers.argon2 import Argon2Hasher

        weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),)).hash("pw-123456")
        valid, rehash = run(security.verify_password("pw-123456", weak))
        assert valid and rehash and "m=19456,t=2" in rehash


class TestRefreshTokens:
    def test_random_and_stored_only_as_a_hash(self):
        first, second = security.new_refresh_token(), security.new_refresh_token()
        assert first != second and len(first) >= 43
        assert security.hash_refresh_token(first) != first
        assert len(security.hash_refresh_token(first)) == 64


class TestSigningKey:
    def test_dev_key_is_generated_once_even_by_concurrent_replicas(self, tmp_path):
        settings = Settings(VAR_DIR=tmp_path)
        keys: list[bytes] = []

        def load() -> None:
            keys.append(security._dev_private_key(settings.dev_private_key_file))

        threads = [threading.Thread(target=load) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(keys)) == 1
        assert (settings.dev_private_key_file.stat().st_mode & 0o077) == 0

    def test_access_token_carries_the_contract_claims(self):
        signer = security.Signer(Ed25519PrivateKey.generate(), issuer="iss", audience="aud", ttl_seconds=900)
        token = signer.access_token(user_id=5, role=Role.ADMIN, now=utcnow())
        verifier = TokenVerifier(signer.key_source(), issuer="iss", audience="aud")
        assert run(verifier.verify(token)) == Principal(id=5, role=Role.ADMIN)
        assert "d" not in signer.jwk  # the private part is never published
