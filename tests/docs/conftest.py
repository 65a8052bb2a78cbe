from tests.service_kit.unit.conftest import apps

__all__ = ["apps"]
