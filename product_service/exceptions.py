from service_kit.errors import Conflict, NotFound, ValidationFailed


class ProductNotFound(NotFound):
    message = "No such product."


class ReservationNotFound(NotFound):
    message = "No stock is reserved for this order."


class OutOfStock(Conflict):
    code = "out_of_stock"
    message = "Not enough stock."


class UnknownProduct(ValidationFailed):
    code = "unknown_product"
    message = "The order names a product that does not exist."


class TotalTooLarge(ValidationFailed):
    code = "total_too_large"
    message = "The order's total would exceed the largest amount an order can hold."


class ReservationMismatch(Conflict):
    code = "reservation_mismatch"
    message = "This reservation key already reserved different items."
