from pathlib import Path

from pydantic import Field, SecretStr

from auth_service.passwords import Passwords, usable_cpus
from auth_service.throttle import LoginPolicy
from service_kit.settings import ServiceSettings, is_placeholder


class Settings(ServiceSettings):
    AUTH_DB_NAME: str = "authDB"
    # Ed25519 signing key, PEM inline or in a file; for dev runs it is generated into VAR_DIR once.
    JWT_PRIVATE_KEY: SecretStr | None = None
    JWT_PRIVATE_KEY_FILE: Path | None = None
    # Published beside the signing key's public half during a key rotation (docs/deployment.md, "Rotating the signing
    # key"): the key that will sign next, and the one that signed until the last rotation. An empty file
    # publishes nothing, so a deployment can name the files once and change only their contents.
    JWT_NEXT_PUBLIC_KEY: str | None = None
    JWT_NEXT_PUBLIC_KEY_FILE: Path | None = None
    JWT_PREVIOUS_PUBLIC_KEY: str | None = None
    JWT_PREVIOUS_PUBLIC_KEY_FILE: Path | None = None
    REFRESH_TOKEN_TTL_SECONDS: int = 14 * 24 * 3600
    # The first admin, created at prestart if missing and never overwritten.
    ADMIN_EMAIL: str | None = None
    ADMIN_PASSWORD: SecretStr | None = None
    ADMIN_USERNAME: str = "admin"
    # argon2 threads per replica (None: the CPUs the replica may use, its cgroup quota included), and how
    # many more hashes may wait for one before a request is refused with 503 + Retry-After.
    HASH_THREADS: int | None = Field(default=None, ge=1)
    HASH_QUEUE: int = Field(default=16, ge=0)
    # Failed logins per email before each further attempt waits (1 s, doubling up to the cap); failures
    # idle this long are forgotten (auth_service/throttle.py).
    LOGIN_FREE_ATTEMPTS: int = Field(default=5, ge=1)
    LOGIN_MAX_BLOCK_SECONDS: int = Field(default=900, ge=1)
    LOGIN_FORGET_AFTER_SECONDS: int = Field(default=3600, ge=1)
    # How long a device cookie lets its client skip the account's throttle (auth_service/devices.py).
    DEVICE_COOKIE_TTL_SECONDS: int = Field(default=180 * 24 * 3600, ge=60)

    def database_name(self) -> str:
        return self.AUTH_DB_NAME

    @property
    def dev_private_key_file(self) -> Path:
        return self.VAR_DIR / "jwt_private_key.pem"

    def published_public_keys(self) -> list[str]:
        """The PEMs of the next and previous keys that are configured (never the signing key's)."""
        pems = [
            value or (path.read_text() if path is not None else "")
            for value, path in (
                (self.JWT_NEXT_PUBLIC_KEY, self.JWT_NEXT_PUBLIC_KEY_FILE),
                (self.JWT_PREVIOUS_PUBLIC_KEY, self.JWT_PREVIOUS_PUBLIC_KEY_FILE),
            )
        ]
        return [pem for pem in pems if pem.strip()]

    def login_policy(self) -> LoginPolicy:
        return LoginPolicy(
            free_attempts=self.LOGIN_FREE_ATTEMPTS,
            max_block_seconds=self.LOGIN_MAX_BLOCK_SECONDS,
            forget_after_seconds=self.LOGIN_FORGET_AFTER_SECONDS,
        )

    def passwords(self) -> Passwords:
        return Passwords(threads=self.HASH_THREADS or usable_cpus(), queue=self.HASH_QUEUE)

    def prod_problems(self) -> list[str]:
        problems = super().prod_problems()
        if not (self.JWT_PRIVATE_KEY or self.JWT_PRIVATE_KEY_FILE):
            problems.append("JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE must be set (no key is generated in prod)")
        elif self.JWT_PRIVATE_KEY is not None and is_placeholder(self.JWT_PRIVATE_KEY.get_secret_value()):
            problems.append("JWT_PRIVATE_KEY must be a real key (it is a dev/example value)")
        if self.ADMIN_PASSWORD is not None and is_placeholder(self.ADMIN_PASSWORD.get_secret_value()):
            problems.append("ADMIN_PASSWORD must be a real password (it is a dev/example value)")
        return problems


settings = Settings()
# The Alembic migrations of this service's database (prestart applies them, /readyz expects them).
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
