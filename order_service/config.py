from pathlib import Path

from pydantic import Field

from order_service.limits import OrderLimits
from service_kit.settings import InternalApiSettings


class Settings(InternalApiSettings):
    ORDERS_DB_NAME: str = "ordersDB"
    # Where the product service's /internal/ endpoints answer (a cluster Service, or the local mesh listener).
    PRODUCT_SERVICE_URL: str = "http://127.0.0.1:8081"
    # Placement must answer within 2 s even when the product service hangs: the deadline bounds its one
    # call, including any wait for a bulkhead slot while the product service answered nothing.
    PRODUCT_CONNECT_TIMEOUT_SECONDS: float = 0.3
    PRODUCT_READ_TIMEOUT_SECONDS: float = 1.7
    PRODUCT_RESERVE_DEADLINE_SECONDS: float = 1.7
    # A bulkhead: at most this many calls in flight per replica. The rest wait for a slot, up to the queue
    # timeout while the product service keeps answering (a burst of orders), up to the stall timeout while
    # it answers nothing; then they are refused, having sent nothing.
    PRODUCT_MAX_IN_FLIGHT: int = 4
    PRODUCT_QUEUE_TIMEOUT_SECONDS: float = 5.0
    PRODUCT_STALL_TIMEOUT_SECONDS: float = 1.0
    # A pending order older than this was abandoned by a replica that died mid-placement: no live placement
    # takes longer than the deadline above plus its two short database steps.
    PENDING_TIMEOUT_SECONDS: float = 15.0
    RECONCILE_INTERVAL_SECONDS: float = 5.0
    # Owed releases are claimed in batches of this many, each for at most the lease.
    RECONCILE_BATCH_SIZE: int = 100
    RECONCILE_LEASE_SECONDS: float = 60.0
    # How long a replayed Idempotency-Key waits for the first request before answering 409.
    IDEMPOTENCY_WAIT_SECONDS: float = 5.0
    # Business limits (order_service/limits.py): units per line, per order, and held at once by one user in
    # its pending and confirmed orders; past one, 422 `order_limit_exceeded`. 0 turns a limit off.
    ORDER_MAX_UNITS_PER_LINE: int = Field(default=1_000, ge=0)
    ORDER_MAX_UNITS_PER_ORDER: int = Field(default=10_000, ge=0)
    ORDER_MAX_OPEN_UNITS_PER_USER: int = Field(default=10_000, ge=0)

    def database_name(self) -> str:
        return self.ORDERS_DB_NAME

    def order_limits(self) -> OrderLimits:
        return OrderLimits(
            units_per_line=self.ORDER_MAX_UNITS_PER_LINE,
            units_per_order=self.ORDER_MAX_UNITS_PER_ORDER,
            open_units_per_user=self.ORDER_MAX_OPEN_UNITS_PER_USER,
        )


settings = Settings()
# The Alembic migrations of this service's database (prestart applies them, /readyz expects them).
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
