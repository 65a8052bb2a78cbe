import threading
from asyncio import run

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth_service import security
from auth_service.config import Settings
from service_kit.auth import Principal, Role, TokenVerifier
from service_kit.db.types import utcnow


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
