"""Product's own metrics, beside the fleet's (service_kit.metrics): stock reservations and releases by
outcome, and the writes optimistic locking refused."""

from prometheus_client import Counter

from product_service.exceptions import OutOfStock, TotalTooLarge, UnknownProduct
from service_kit.errors import PreconditionFailed, VersionConflict
from service_kit.metrics import Refusals

RESERVATIONS = Counter(
    "product_stock_reservations_total",
    "Stock reservation calls, by outcome: reserved (stock taken), repeated (an order that had reserved or "
    "released already: nothing taken), out_of_stock, unknown_product, total_too_large.",
    ["outcome"],
)
RESERVATION_REFUSALS: Refusals = {
    OutOfStock: "out_of_stock",
    UnknownProduct: "unknown_product",
    TotalTooLarge: "total_too_large",
}

RELEASES = Counter("product_stock_releases_total", "Stock release calls answered (each releases at most once).")

LOCK_REFUSALS = Counter(
    "product_optimistic_lock_refusals_total",
    "Writes refused because the product moved on since the writer read it: 412 (stale If-Match) or 409 "
    "(stale version in the body).",
    ["status"],
)
LOCK_REFUSAL_STATUSES: Refusals = {PreconditionFailed: "412", VersionConflict: "409"}
