"""What the fleet is made of: three services, two replicas each, and the gateway in front of them."""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Service:
    """One deployable: its package (`python -m <module>`) and the gateway's name for it."""

    name: str
    module: str
    api_prefix: str

    @property
    def upstream_variables(self) -> tuple[str, str]:
        """The template's variables that hold this service's two replica addresses."""
        prefix = self.name.upper()
        return f"{prefix}_UPSTREAM_1", f"{prefix}_UPSTREAM_2"


SERVICES = (
    Service("auth", "auth_service", "/api/v0/auth"),
    Service("product", "product_service", "/api/v0/products"),
    Service("order", "order_service", "/api/v0/orders"),
)
REPLICAS_PER_SERVICE = 2
GATEWAY = "gateway"


@dataclass(frozen=True, slots=True)
class Replica:
    """One replica process of a service, as the supervisor names it (`auth-1`, `auth-2`, ...)."""

    service: Service
    index: int
    host: str
    port: int

    @property
    def name(self) -> str:
        return f"{self.service.name}-{self.index}"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


def replica_names() -> list[str]:
    """Every replica's program name, in start order."""
    return [f"{service.name}-{index}" for service in SERVICES for index in range(1, REPLICAS_PER_SERVICE + 1)]
