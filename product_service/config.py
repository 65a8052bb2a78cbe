from pathlib import Path

from service_kit.settings import InternalApiSettings


class Settings(InternalApiSettings):
    PRODUCTS_DB_NAME: str = "productsDB"

    def database_name(self) -> str:
        return self.PRODUCTS_DB_NAME


settings = Settings()
# The Alembic migrations of this service's database (prestart applies them, /readyz expects them).
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
