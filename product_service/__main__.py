from pathlib import Path

from product_service.config import settings
from service_kit.cli import run

if __name__ == "__main__":
    run("product_service", settings, migrations_dir=Path(__file__).parent / "migrations")
