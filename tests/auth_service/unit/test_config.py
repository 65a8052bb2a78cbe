"""What auth's settings refuse when APP_ENV=prod, beyond what every service refuses."""

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import ValidationError

from auth_service.config import Settings
from tests.service_kit.unit.test_settings import REAL

# Generated here: the repository holds no private key, not even a test one.
KEY = Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()


def test_real_values_are_accepted():
    assert Settings(**REAL, JWT_PRIVATE_KEY=KEY, ADMIN_PASSWORD="Vb8mQ2xL9tR4kW7z").APP_ENV == "prod"


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"JWT_PRIVATE_KEY": None}, "JWT_PRIVATE_KEY"),
        ({"JWT_PRIVATE_KEY": "change-me: an Ed25519 private key, PEM"}, "JWT_PRIVATE_KEY"),
        ({"ADMIN_PASSWORD": "dev-admin-password"}, "ADMIN_PASSWORD"),
        ({"ADMIN_PASSWORD": "change-me-admin-password"}, "ADMIN_PASSWORD"),
    ],
    ids=["no-key", "example-key", "dev-admin-password", "example-admin-password"],
)
def test_each_dev_default_is_refused(override, named):
    with pytest.raises(ValidationError, match=named):
        Settings(**{**REAL, "JWT_PRIVATE_KEY": KEY, **override})


def test_auth_holds_no_service_credential():
    # Auth neither serves nor calls /internal/: a SERVICE_TOKEN given to it is read by nothing, and prod needs none.
    real = {key: value for key, value in REAL.items() if key != "SERVICE_TOKEN"}
    settings = Settings(**real, JWT_PRIVATE_KEY=KEY, ADMIN_PASSWORD="Vb8mQ2xL9tR4kW7z")
    assert "SERVICE_TOKEN" not in Settings.model_fields and not hasattr(settings, "SERVICE_TOKEN")
