"""Auth's flows: registration and login run several units of work with a password hashed between them, so
that no transaction and no connection is held while argon2 runs."""

import uuid
from dataclasses import dataclass
from functools import partial

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service import devices, repository, service, throttle
from auth_service.exceptions import EmailTaken, InvalidCredentials
from auth_service.models import DeviceLoginFailures, LoginFailures, User
from auth_service.passwords import Passwords
from auth_service.schemas import TokenPair, UserCreate, canonical_email
from auth_service.security import Signer
from auth_service.throttle import LoginPolicy
from service_kit.auth import Role
from service_kit.db.types import utcnow
from service_kit.db.unit_of_work import Database, transaction

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

    @transaction(retry_duplicates=True)  # two first failures for one subject insert its row at once
    async def admit(session: AsyncSession) -> tuple[User | None, throttle.Subject]:
        user = await repository.get_by_email(session, email=email)
        if user is not None and device is not None and device.user_id == user.id:
            subject = throttle.Subject(DeviceLoginFailures, device.id)
        else:
            subject = throttle.Subject(LoginFailures, email)
        await throttle.admit(session, subject, now=now, policy=policy)
        return user, subject

    user, subject = await database.run(admit)
    valid, rehash = await passwords.verify(password, user.password_hash if user else None)
    if user is None or not valid:
        log.info("login_failed", known_device=subject.counter is DeviceLoginFailures)
        raise InvalidCredentials()

    async def open_session(session: AsyncSession) -> TokenPair:
        await throttle.clear(session, subject)
        if rehash:
            await repository.update_password_hash(session, user_id=user.id, password_hash=rehash)
        return await service.issue_pair(
            session, user=user, family_id=uuid.uuid4().hex, signer=signer, refresh_ttl=refresh_ttl
        )

    log.info("login_succeeded", user_id=user.id)
    tokens = await database.run(open_session)
    return LoggedIn(tokens, devices.issue(signer, user_id=user.id, now=utcnow(), ttl_seconds=device_ttl))
