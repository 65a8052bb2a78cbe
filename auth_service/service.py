"""Auth's business rules. Steps of a unit of work flush, never commit or roll back (`Database.run` owns the
transaction); `register` and `login` are flows of several units, with the password hashed between them, so
no transaction and no connection is held while argon2 runs."""

import uuid
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service import devices, repository, throttle
from auth_service.exceptions import (
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    RefreshTokenReused,
    UserNotFound,
)
from auth_service.models import DeviceLoginFailures, LoginFailures, User
from auth_service.passwords import Passwords
from auth_service.repository import PublicUser
from auth_service.schemas import TokenPair, UserCreate, canonical_email
from auth_service.security import Signer, hash_refresh_token, new_refresh_token
from auth_service.throttle import LoginPolicy
from service_kit.auth import Principal, Role
from service_kit.db.types import utcnow
from service_kit.db.unit_of_work import Database
from service_kit.errors import Forbidden

log = structlog.get_logger(__name__)


async def register(database: Database, passwords: Passwords, *, user_in: UserCreate) -> User:
    """Create a plain user (never an admin); 409 if the email is taken. A taken email is refused before any
    hashing (a flood of duplicates costs a SELECT each, not an argon2 hash); the unique index still decides
    two registrations racing for one email."""
    if await database.read(partial(repository.email_exists, email=user_in.email)):
        raise EmailTaken(details={"field": "email"})
    password_hash = await passwords.hash(user_in.password.get_secret_value())

    async def create(session: AsyncSession) -> User:
        try:
            return await repository.create(
                session, username=user_in.username, email=user_in.email, password_hash=password_hash, role=Role.USER
            )
        except IntegrityError as exc:
            raise EmailTaken(details={"field": "email"}) from exc  # the unit of work rolls the attempt back

    return await database.run(create)


@dataclass(frozen=True, slots=True)
class LoggedIn:
    tokens: TokenPair
    device_cookie: str  # a new one with every login (auth_service/devices.py)


async def login(
    database: Database,
    passwords: Passwords,
    *,
    email: str,
    password: str,
    device_cookie: str | None,
    signer: Signer,
    refresh_ttl: int,
    device_ttl: int,
    policy: LoginPolicy,
) -> LoggedIn:
    """A new token pair starting a new family; the same 401 for an unknown email and a wrong password. The
    attempt is counted (auth_service/throttle.py) before the password is checked: a subject with too many
    recent failures gets 429, and its password is not even hashed."""
    email, now = canonical_email(email), utcnow()
    device = devices.recognise(signer, device_cookie)

    async def admit(session: AsyncSession) -> tuple[User | None, throttle.Subject]:
        user = await repository.get_by_email(session, email=email)
        if user is not None and device is not None and device.user_id == user.id:
            subject = throttle.Subject(DeviceLoginFailures, device.id)
        else:
            subject = throttle.Subject(LoginFailures, email)
        await throttle.admit(session, subject, now=now, policy=policy)
        return user, subject

    user, subject = await database.run(admit, retry_duplicates=True)
    valid, rehash = await passwords.verify(password, user.password_hash if user else None)
    if user is None or not valid:
        log.info("login_failed", known_device=subject.counter is DeviceLoginFailures)
        raise InvalidCredentials()

    async def open_session(session: AsyncSession) -> TokenPair:
        await throttle.clear(session, subject)
        if rehash:
            await repository.update_password_hash(session, user_id=user.id, password_hash=rehash)
        return await _issue_pair(session, user=user, family_id=uuid.uuid4().hex, signer=signer, refresh_ttl=refresh_ttl)

    log.info("login_succeeded", user_id=user.id)
    tokens = await database.run(open_session)
    return LoggedIn(tokens, devices.issue(signer, user_id=user.id, now=utcnow(), ttl_seconds=device_ttl))


async def refresh(session: AsyncSession, *, refresh_token: str, signer: Signer, refresh_ttl: int) -> TokenPair:
    """Spend the refresh token for a new pair. A token that was already spent means it leaked: the whole
    family is revoked and RefreshTokenReused raised, a 401 whose unit of work must commit the revocation."""
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
    return await _issue_pair(session, user=user, family_id=token.family_id, signer=signer, refresh_ttl=refresh_ttl)


async def logout(session: AsyncSession, *, refresh_token: str) -> None:
    """End the login the token belongs to; unknown tokens are ignored (logout is idempotent)."""
    token = await repository.get_refresh_token(session, token_hash=hash_refresh_token(refresh_token))
    if token is not None:
        await repository.revoke_family(session, family_id=token.family_id, now=utcnow())


async def get_user(session: AsyncSession, *, user_id: int, caller: Principal) -> PublicUser:
    """A user the caller may see (itself, or anyone for an admin), as its public columns."""
    if user_id != caller.id and not caller.is_admin:
        raise Forbidden("You may only read your own account.")
    user = await repository.read(session, user_id=user_id)
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


async def _issue_pair(
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
