"""Auth's business rules, as units of work: each takes a session and flushes, never commits or rolls back
(`Database.run` owns the transaction). Registration and login, which hash a password between two units,
are in auth_service/flows.py."""

from datetime import timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service import repository
from auth_service.exceptions import (
    InvalidRefreshToken,
    RefreshTokenReused,
    UserNotFound,
)
from auth_service.models import User
from auth_service.repository import UserView
from auth_service.schemas import TokenPair, canonical_email
from auth_service.security import Signer, hash_refresh_token, new_refresh_token
from service_kit.auth import Principal, Role
from service_kit.db.types import utcnow
from service_kit.db.unit_of_work import transaction
from service_kit.errors import Forbidden

log = structlog.get_logger(__name__)


@transaction(commit_on=(RefreshTokenReused,))
async def refresh(session: AsyncSession, *, refresh_token: str, signer: Signer, refresh_ttl: int) -> TokenPair:
    """Spend the refresh token for a new pair. A token that was already spent means it leaked: the whole
    family is revoked and RefreshTokenReused raised, a 401 whose unit of work still commits the revocation."""
    now = utcnow()
    token = await repository.get_refresh_token(session, token_hash=hash_refresh_token(refresh_token))
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise InvalidRefreshToken()
    if not await repository.spend_refresh_token(session, token_id=token.id, now=now):
        await repository.revoke_family(session, family_id=token.family_id, now=now)
        log.warning("refresh_token_reused", family_id=token.family_id, user_id=token.user_id)
        raise RefreshTokenReused()
    user = await repository.get(session, user_id=token.user_id)
    if user is None:
        raise InvalidRefreshToken()
    return await issue_pair(session, user=user, family_id=token.family_id, signer=signer, refresh_ttl=refresh_ttl)


async def logout(session: AsyncSession, *, refresh_token: str) -> None:
    """End the login the token belongs to; unknown tokens are ignored (logout is idempotent)."""
    token = await repository.get_refresh_token(session, token_hash=hash_refresh_token(refresh_token))
    if token is not None:
        await repository.revoke_family(session, family_id=token.family_id, now=utcnow())


async def get_user(session: AsyncSession, *, user_id: int, caller: Principal) -> UserView:
    """A user the caller may see (itself, or anyone for an admin), as its public columns."""
    if user_id != caller.id and not caller.is_admin:
        raise Forbidden("You may only read your own account.")
    user = await repository.view(session, user_id=user_id)
    if user is None:
        raise UserNotFound()
    return user


async def change_role(session: AsyncSession, *, user_id: int, role: Role) -> User:
    """Set a user's role (the caller is an admin)."""
    user = await repository.get(session, user_id=user_id)
    if user is None:
        raise UserNotFound()
    return await repository.update_role(session, user=user, role=role)


async def ensure_admin(session: AsyncSession, *, email: str, password_hash: str, username: str) -> bool:
    """Create the first admin if no account has that email; an existing account is never touched. A
    concurrent prestart that creates it first makes this raise IntegrityError."""
    email = canonical_email(email)
    if await repository.get_by_email(session, email=email) is not None:
        return False
    await repository.create(session, username=username, email=email, password_hash=password_hash, role=Role.ADMIN)
    return True


async def issue_pair(
    session: AsyncSession, *, user: User, family_id: str, signer: Signer, refresh_ttl: int
) -> TokenPair:
    now = utcnow()
    refresh_token = new_refresh_token()
    await repository.create_refresh_token(
        session,
        user_id=user.id,
        family_id=family_id,
        token_hash=hash_refresh_token(refresh_token),
        expires_at=now + timedelta(seconds=refresh_ttl),
    )
    return TokenPair(
        access_token=signer.access_token(user_id=user.id, role=user.role, now=now),
        refresh_token=refresh_token,
        expires_in=signer.ttl_seconds,
    )
