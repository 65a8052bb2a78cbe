from pathlib import Path
from typing import Self

from pydantic import SecretStr, model_validator

from service_kit.settings import ServiceSettings


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

    def database_name(self) -> str:
        return self.AUTH_DB_NAME

    @property
    def dev_private_key_file(self) -> Path:
        return self.VAR_DIR / "jwt_private_key.pem"

    @model_validator(mode="after")
    def _signing_key_is_given_outside_dev(self) -> Self:
        if self.APP_ENV == "prod" and not (self.JWT_PRIVATE_KEY or self.JWT_PRIVATE_KEY_FILE):
            raise ValueError("set JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE when APP_ENV=prod")
        return self


settings = Settings()
# The Alembic migrations of this service's database (prestart applies them, /readyz expects them).
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
