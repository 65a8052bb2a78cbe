from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from auth_service import metrics
from auth_service.config import MIGRATIONS_DIR, Settings, settings
from auth_service.routes import public
from auth_service.security import signer_for
from service_kit.app import create_service_app
from service_kit.auth import current_user


def create_app(app_settings: Settings | None = None) -> FastAPI:
    """The auth service; it verifies its own tokens with its own public key."""
    app_settings = app_settings or settings
    signer = signer_for(app_settings)
    passwords = app_settings.passwords()
    metrics.watch_hashing(passwords)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            passwords.close()

    app = create_service_app(
        name="auth_service",
        settings=app_settings,
        migrations_dir=MIGRATIONS_DIR,
        api_prefix=public.PREFIX,
        key_source=signer.key_source(),
        description="Users, passwords, access and refresh tokens, roles.",
        lifespan=lifespan,
    )
    app.state.signer = signer
    app.state.passwords = passwords
    app.include_router(public.open_router)
    app.include_router(public.router, dependencies=[Depends(current_user)])
    return app
