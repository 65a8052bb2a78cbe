"""Business limits on what one order and one user may take (OWASP API6: an account with no payment must not
be able to hold a warehouse). Each refusal is 422 `order_limit_exceeded` naming the limit, and nothing is
taken. The per-order limits are judged here, before anything is written; the per-user one by the
placement's own transaction (repository.hold_units), so concurrent orders of one user cannot pass it together."""

from dataclasses import dataclass

from order_service.exceptions import OrderLimitExceeded
from order_service.schemas import OrderCreate

# A limit of 0 is off; so is this, as a number the counter never reaches.
UNLIMITED = 2**62


@dataclass(frozen=True, slots=True)
class OrderLimits:
    units_per_line: int
    units_per_order: int
    open_units_per_user: int  # units in the user's pending and confirmed orders, together

    def check(self, order_in: OrderCreate) -> None:
        """OrderLimitExceeded if the order alone goes past a limit."""
        for line in order_in.items:
            if self.units_per_line and line.quantity > self.units_per_line:
                raise OrderLimitExceeded(
                    details={"limit": "units_per_line", "max": self.units_per_line, "product_id": line.product_id}
                )
        units = sum(line.quantity for line in order_in.items)
        if self.units_per_order and units > self.units_per_order:
            raise OrderLimitExceeded(details={"limit": "units_per_order", "max": self.units_per_order, "units": units})

    @property
    def max_open_units(self) -> int:
        return self.open_units_per_user or UNLIMITED
