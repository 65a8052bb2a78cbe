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
    ACCESS_TOKEN_TTL_SECONDS: int = 15 * 60
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

    def database_name(self) -> str:
        return self.AUTH_DB_NAME

    @property
    def dev_private_key_file(self) -> Path:
        return self.VAR_DIR / "jwt_private_key.pem"

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
