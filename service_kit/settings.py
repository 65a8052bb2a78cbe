"""The settings every service shares; each service subclasses `ServiceSettings` once."""

import ipaddress
import ssl
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import URL

DEV_SERVICE_TOKEN = "dev-service-token-change-me"  # refused when APP_ENV=prod
# A secret at least this long is not guessable by trying (32 random characters).
MIN_SECRET_LENGTH = 32
# Marks of the values the repository itself publishes (.env.dev, the Secret example): never a real secret.
_PLACEHOLDER_MARKS = ("change-me", "changeme", "change_me")
_DEV_PREFIX = "dev-"


def is_loopback(host: str) -> bool:
    """Whether `host` names this machine (a database there is reached without crossing a network)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_placeholder(secret: str) -> bool:
    """Whether `secret` is one of the repository's public dev or example values, or empty."""
    folded = secret.strip().lower()
    return not folded or folded.startswith(_DEV_PREFIX) or any(mark in folded for mark in _PLACEHOLDER_MARKS)


class ServiceSettings(BaseSettings):
    """Read from the environment only (names are unprefixed and the same in every service)."""

    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True)

    APP_ENV: Literal["dev", "test", "prod"] = "dev"
    HOST: str = "127.0.0.1"
    PORT: int = 8000
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: Literal["json", "console"] = "json"
    VAR_DIR: Path = Path("var")

    # MySQL when DB_HOST is set, otherwise an embedded SQLite file under VAR_DIR.
    DB_HOST: str | None = None
    DB_PORT: int = 3306
    DB_USER: str = "root"
    DB_PASS: SecretStr = SecretStr("")
    # Per replica and per pool (one for transactions, one for reads): connections kept open, and extra ones
    # opened (and closed again) at peaks. A connection is held only while a statement runs, so a few serve
    # many requests in flight. Six replicas at 2 x (8 + 2), plus one each for readiness probes, fit MySQL's
    # default max_connections (151); Kubernetes' autoscalers may run more, so its MySQL allows more
    # (app.connections_per_replica).
    DB_POOL_SIZE: int = 8
    DB_MAX_OVERFLOW: int = 2
    DB_CONNECT_TIMEOUT_SECONDS: int = 3
    # TLS to MySQL, decided, never opportunistic: "verify" checks the server's certificate (and its name,
    # DB_HOST) against DB_TLS_CA_FILE; "off" sends everything in clear, for a database on loopback or a
    # private network you trust. APP_ENV=prod requires "verify" unless DB_HOST is loopback.
    DB_TLS: Literal["off", "verify"] = "off"
    DB_TLS_CA_FILE: Path | None = None

    # Costly reads (the catalogue's q= search) run on a pool of their own, this small, waiting at most
    # SEARCH_QUEUE_SECONDS for a connection (then 503 overloaded); MySQL/MariaDB stop each of their
    # statements after SEARCH_STATEMENT_SECONDS (503 search_timeout). A flood of searches slows searches only.
    SEARCH_POOL_SIZE: int = Field(default=2, ge=1)
    SEARCH_QUEUE_SECONDS: float = Field(default=2.0, gt=0)
    SEARCH_STATEMENT_SECONDS: float = Field(default=1.0, gt=0)

    # Traces, over OTLP/HTTP to this collector (e.g. http://otel-collector:4318); unset: no tracing at all.
    OTEL_EXPORTER_OTLP_ENDPOINT: str | None = None

    # Access-token verification: a configured public key, else the auth service's JWKS.
    JWT_ISSUER: str = "ecommerce-auth"
    JWT_AUDIENCE: str = "ecommerce-api"
    # How far this replica's clock may be from auth's when judging a token's times (exp, iat, nbf).
    JWT_LEEWAY_SECONDS: float = Field(default=5.0, ge=0, le=60)
    # How long auth's access tokens live; a verifier keeps a key auth stopped publishing this long (plus the
    # leeway), so no token that key signed is refused before it expires.
    ACCESS_TOKEN_TTL_SECONDS: int = Field(default=15 * 60, ge=1)
    # How often a verifier looks at auth's key set again, in the background: a key rotation publishes the
    # next key at least this long before signing with it (docs/deployment.md, "Rotating the signing key").
    JWKS_REFRESH_SECONDS: float = Field(default=300.0, ge=1)
    JWT_PUBLIC_KEY: str | None = None
    JWT_PUBLIC_KEY_FILE: Path | None = None
    AUTH_SERVICE_URL: str = "http://127.0.0.1:8080"

    def database_name(self) -> str:
        """The name of the database this service owns."""
        raise NotImplementedError

    def database_url(self, *, with_database: bool = True) -> URL:
        """SQLAlchemy URL of this service's database (MySQL server or embedded SQLite file)."""
        if self.DB_HOST is None:
            return URL.create("sqlite+pysqlite", database=str(self.VAR_DIR / f"{self.database_name()}.sqlite3"))
        return URL.create(
            "mysql+pymysql",
            username=self.DB_USER,
            password=self.DB_PASS.get_secret_value(),
            host=self.DB_HOST,
            port=self.DB_PORT,
            database=self.database_name() if with_database else None,
            query={"charset": "utf8mb4"},
        )

    def database_tls(self) -> ssl.SSLContext | None:
        """The TLS context every connection to MySQL verifies the server with; None when DB_TLS is off."""
        if self.DB_TLS == "off" or self.DB_HOST is None:
            return None
        return ssl.create_default_context(cafile=str(self.DB_TLS_CA_FILE))

    @property
    def jwks_url(self) -> str:
        return f"{self.AUTH_SERVICE_URL.rstrip('/')}/api/v0/auth/.well-known/jwks.json"

    def public_key_pem(self) -> str | None:
        """The configured verification key, if any (inline PEM wins over a file)."""
        if self.JWT_PUBLIC_KEY:
            return self.JWT_PUBLIC_KEY
        if self.JWT_PUBLIC_KEY_FILE:
            return self.JWT_PUBLIC_KEY_FILE.read_text()
        return None

    def prod_problems(self) -> list[str]:
        """What APP_ENV=prod refuses here: every dev default and every fallback (subclasses add their own)."""
        problems = []
        if self.DB_HOST is None:
            problems.append("DB_HOST must be set: prod never falls back to an embedded SQLite file")
        else:
            if self.DB_USER == "root":
                problems.append("DB_USER must be the service's own user, not root")
            if is_placeholder(self.DB_PASS.get_secret_value()):
                problems.append("DB_PASS must be a real password (it is empty or a dev/example value)")
            if self.DB_TLS != "verify" and not is_loopback(self.DB_HOST):
                problems.append("DB_TLS must be verify (with DB_TLS_CA_FILE) for a database not on loopback")
        return problems

    @model_validator(mode="after")
    def _verify_needs_a_ca(self) -> Self:
        if self.DB_TLS == "verify" and self.DB_TLS_CA_FILE is None:
            raise ValueError("DB_TLS=verify needs DB_TLS_CA_FILE, the CA that signed the server's certificate")
        return self

    @model_validator(mode="after")
    def _refuse_dev_defaults_in_prod(self) -> Self:
        if self.APP_ENV == "prod" and (problems := self.prod_problems()):
            raise ValueError("APP_ENV=prod refuses dev defaults: " + "; ".join(problems))
        return self


class InternalApiSettings(ServiceSettings):
    """A service that serves (product) or calls (order) /internal/ endpoints. Only these hold the service
    credential: auth does neither, and is never given it."""

    # The credential order presents to product's /internal/ endpoints.
    SERVICE_TOKEN: SecretStr = SecretStr(DEV_SERVICE_TOKEN)

    def prod_problems(self) -> list[str]:
        problems = super().prod_problems()
        token = self.SERVICE_TOKEN.get_secret_value()
        if is_placeholder(token) or len(token) < MIN_SECRET_LENGTH:
            problems.append(f"SERVICE_TOKEN must be a real secret of at least {MIN_SECRET_LENGTH} characters")
        return problems
