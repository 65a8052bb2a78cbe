from typing import Annotated

from fastapi import Depends, Request

from auth_service.config import Settings
from auth_service.passwords import Passwords
from auth_service.security import Signer


async def get_signer(request: Request) -> Signer:
    signer: Signer = request.app.state.signer
    return signer


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_passwords(request: Request) -> Passwords:
    passwords: Passwords = request.app.state.passwords
    return passwords


SignerDep = Annotated[Signer, Depends(get_signer)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
