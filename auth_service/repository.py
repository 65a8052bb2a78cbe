"""All SQL of the auth service."""

from datetime import datetime

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auth_service.models import RefreshToken, User
from service_kit.auth import Role
from service_kit.db.unit_of_work import rows_matched

# What a read of a user answers with, as a plain row: never the password hash, which stays in the database.
_PUBLIC_COLUMNS = (User.id, User.username, User.email, User.role, User.created_at)
UserView = Row[int, str, str, Role, datetime]


# Built once, with a bound parameter: building the statement per request cost more than running it.
_READ = select(*_PUBLIC_COLUMNS).where(User.id == bindparam("user_id"))
_EMAIL_EXISTS = select(User.id).where(User.email == bindparam("email"))


async def view(session: AsyncSession, *, user_id: int) -> UserView | None:
    """The user's public columns, read only to answer (a row, not an ORM object), if there is such a user."""
    return (await session.execute(_READ, {"user_id": user_id})).one_or_none()


async def get(session: AsyncSession, *, user_id: int) -> User | None:
    """The user as an ORM object, to change it, if there is such a user."""
    return await session.get(User, user_id)


async def get_by_email(session: AsyncSession, *, email: str) -> User | None:
    """The user with this (normalised) email, if any."""
    return (await session.scalars(select(User).where(User.email == email))).one_or_none()


async def create(session: AsyncSession, *, username: str, email: str, password_hash: str, role: Role) -> User:
    """Insert a user; the unique email index raises IntegrityError on a duplicate."""
    user = User(username=username, email=email, password_hash=password_hash, role=role)
    session.add(user)
    await session.flush()
    return user


async def email_exists(session: AsyncSession, *, email: str) -> bool:
    """Whether an account has this (normalised) email."""
    return (await session.execute(_EMAIL_EXISTS, {"email": email})).first() is not None


async def update_password_hash(session: AsyncSession, *, user_id: int, password_hash: str) -> None:
    """Store a rehash (stronger parameters) of the same password."""
    await session.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


async def update_role(session: AsyncSession, *, user: User, role: Role) -> User:
    """Set the user's role."""
    user.role = role
    await session.flush()
    return user


async def create_refresh_token(
    session: AsyncSession, *, user_id: int, family_id: str, token_hash: str, expires_at: datetime
) -> RefreshToken:
    """Store a new member of a token family."""
    token = RefreshToken(user_id=user_id, family_id=family_id, token_hash=token_hash, expires_at=expires_at)
    session.add(token)
    await session.flush()
    return token


async def get_refresh_token(session: AsyncSession, *, token_hash: str) -> RefreshToken | None:
    """The refresh token with this hash, if any."""
    return (await session.scalars(select(RefreshToken).where(RefreshToken.token_hash == token_hash))).one_or_none()


async def spend_refresh_token(session: AsyncSession, *, token_id: int, now: datetime) -> bool:
    """Mark the token used if it is still live; False when another request spent or revoked it first."""
    spent = (
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return await rows_matched(session, spent) == 1


async def revoke_family(session: AsyncSession, *, family_id: str, now: datetime) -> None:
    """Revoke every live token of the family."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
