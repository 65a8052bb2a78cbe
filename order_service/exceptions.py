from service_kit.errors import Conflict, DependencyUnavailable, NotFound, ValidationFailed


class OrderNotFound(NotFound):
    message = "No such order."


class OutOfStock(Conflict):
    code = "out_of_stock"
    message = "Not enough stock for a product of this order."


class ProductRejected(ValidationFailed):
    """The product service refused a line (an unknown product, say); its code and details are relayed."""


class ProductRefused(DependencyUnavailable):
    """The product service turned down our credential or path: nothing was taken, and retrying cannot help."""

    message = "The product service refused the request; nothing was taken."


class ProductUnavailable(DependencyUnavailable):
    message = "The product service is unavailable; nothing was taken. Try again."


class ProductBusy(ProductUnavailable):
    """Every call slot stayed taken for the whole wait: nothing was sent, so the product service holds nothing."""


class ProductFailed(ProductUnavailable):
    """The product service answered this one call with an error of its own (a 500): it is there, the call failed."""


class IdempotencyKeyReused(ValidationFailed):
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was used with a different request body."


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"
    message = "A request with this Idempotency-Key is still being processed."


class OrderNotCancellable(Conflict):
    code = "order_not_cancellable"
    message = "Only a confirmed order can be cancelled."


class OrderLimitExceeded(ValidationFailed):
    """`details.limit` names the limit (units_per_line, units_per_order, open_units_per_user), `details.max`
    says its value."""

    code = "order_limit_exceeded"
    message = "This order goes past a limit on what one order or one user may hold; nothing was taken."
