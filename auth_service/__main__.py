import gc

gc.disable()  # for the start only: service_kit.server switches it back on once the replica serves

import asyncio
from functools import partial

from auth_service.config import MIGRATIONS_DIR, settings
from service_kit.cli import run


def seed() -> None:
    """After migrating: make sure the signing key exists (dev) and the first admin does."""
    from auth_service.security import load_private_key

    load_private_key(settings)
    if settings.ADMIN_EMAIL and settings.ADMIN_PASSWORD:
        asyncio.run(_ensure_admin(settings.ADMIN_EMAIL, settings.ADMIN_PASSWORD.get_secret_value()))


async def _ensure_admin(email: str, password: str) -> None:
    from sqlalchemy.exc import IntegrityError

    from auth_service import service
    from auth_service.passwords import password_hasher
    from service_kit.app import database_for

    database = database_for(settings)
    ensure = partial(
        service.ensure_admin,
        email=email,
        password_hash=password_hasher.hash(password),
        username=settings.ADMIN_USERNAME,
    )
    try:
        await database.run(ensure)
    except IntegrityError:
        pass  # another replica's prestart created the admin first
    finally:
        await database.dispose()


if __name__ == "__main__":
    run("auth_service", settings, migrations_dir=MIGRATIONS_DIR, after_migrations=seed)
