"""Order's own metrics, beside the fleet's (service_kit.metrics): placements by outcome, and the
reconciler's work: its passes, the placements it failed as abandoned, the releases it delivered and those
still owed."""

from prometheus_client import Counter, Gauge

from order_service.exceptions import (
    IdempotencyInProgress,
    IdempotencyKeyReused,
    OutOfStock,
    ProductBusy,
    ProductRefused,
    ProductRejected,
    ProductUnavailable,
)
from service_kit.metrics import Refusals

PLACEMENTS = Counter(
    "order_placements_total",
    "Order placements, by outcome: confirmed, replayed (an Idempotency-Key seen before), out_of_stock, "
    "rejected (the product service refused a line), busy (no slot to call the product service), "
    "unavailable (it did not answer: 503), refused (it refused our credential), key_reused, in_progress.",
    ["outcome"],
)
# Subclasses before their base: busy is also unavailable.
PLACEMENT_REFUSALS: Refusals = {
    OutOfStock: "out_of_stock",
    ProductRejected: "rejected",
    ProductBusy: "busy",
    ProductUnavailable: "unavailable",
    ProductRefused: "refused",
    IdempotencyKeyReused: "key_reused",
    IdempotencyInProgress: "in_progress",
}

RECONCILER_PASSES = Counter("order_reconciler_passes_total", "Reconciler passes, by outcome: ok, failed.", ["outcome"])
ABANDONED_FAILED = Counter(
    "order_abandoned_placements_failed_total",
    "Pending placements the reconciler failed because the replica placing them died (their stock is released).",
)
RELEASES_DELIVERED = Counter(
    "order_releases_delivered_total", "Stock releases the reconciler delivered to the product service."
)
RELEASES_OWED = Gauge(
    "order_releases_owed", "Stock releases the last reconciler pass could not deliver: they wait for the next."
)
