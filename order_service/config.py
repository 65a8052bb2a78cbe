from pathlib import Path

from service_kit.settings import ServiceSettings


class Settings(ServiceSettings):
    ORDERS_DB_NAME: str = "ordersDB"
    # Where the product service's /internal/ endpoints answer (a cluster Service, or the local mesh listener).
    PRODUCT_SERVICE_URL: str = "http://127.0.0.1:8081"
    # Placement must answer within 2 s even when the product service hangs: these bound its one call.
    PRODUCT_CONNECT_TIMEOUT_SECONDS: float = 0.3
    PRODUCT_READ_TIMEOUT_SECONDS: float = 1.7
    PRODUCT_RESERVE_DEADLINE_SECONDS: float = 1.7
    # A bulkhead: at most this many calls in flight per replica; the rest wait here up to the queue timeout.
    PRODUCT_MAX_IN_FLIGHT: int = 4
    PRODUCT_QUEUE_TIMEOUT_SECONDS: float = 5.0
    # A pending order older than this was abandoned by a replica that died mid-placement.
    PENDING_TIMEOUT_SECONDS: float = 15.0
    RECONCILE_INTERVAL_SECONDS: float = 5.0
    # How long a replayed Idempotency-Key waits for the first request before answering 409.
    IDEMPOTENCY_WAIT_SECONDS: float = 5.0

    def database_name(self) -> str:
        return self.ORDERS_DB_NAME


settings = Settings()
# The Alembic migrations of this service's database (prestart applies them, /readyz expects them).
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
