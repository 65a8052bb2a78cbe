from pathlib import Path

from order_service.config import settings
from service_kit.cli import run

if __name__ == "__main__":
    run("order_service", settings, migrations_dir=Path(__file__).parent / "migrations")
