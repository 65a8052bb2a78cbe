from auth_service.config import MIGRATIONS_DIR, settings
from service_kit.cli import run


def seed() -> None:
    """After migrating: make sure the signing key exists (dev) and the first admin does."""
    from auth_service import service
    from auth_service.security import load_private_key
    from service_kit.app import database_for

    load_private_key(settings)
    if settings.ADMIN_EMAIL and settings.ADMIN_PASSWORD:
        database = database_for(settings)
        with database.session() as session, session.begin():
            service.ensure_admin(
                session,
                email=settings.ADMIN_EMAIL,
                password=settings.ADMIN_PASSWORD.get_secret_value(),
                username=settings.ADMIN_USERNAME,
            )
        database.dispose()


if __name__ == "__main__":
    run("auth_service", settings, migrations_dir=MIGRATIONS_DIR, after_migrations=seed)
