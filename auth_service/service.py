"""Auth's business rules. Functions flush, never commit (but see `refresh`)."""

import uuid
from datetime import timedelta

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from auth_service import repository
from auth_service.exceptions import EmailTaken, InvalidCredentials, InvalidRefreshToken
from auth_service.models import User
from auth_service.schemas import TokenPair, UserCreate
from auth_service.security import (
    Signer,
    hash_password,
    hash_refresh_token,
    new_refresh_token,
    verify_password,
)
from service_kit.auth import Principal, Role
from service_kit.db import utcnow
from service_kit.errors import Forbidden, NotFound

log = structlog.get_logger(__name__)


def register(session: Session, *, user_in: UserCreate) -> User:
    """Create a plain user (never an admin); 409 if the email is taken."""
    password_hash = hash_password(user_in.password.get_secret_value())
    try:
        with session.begin_nested():
            return repository.create(
                session, username=user_in.username, email=user_in.email, password_hash=password_hash, role=Role.USER
            )
    except IntegrityError as exc:
        raise EmailTaken(details={"field": "email"}) from exc


def login(session: Session, *, email: str, password: str, signer: Signer, refresh_ttl: int) -> TokenPair:
    """A new token pair starting a new family; the same 401 for an unknown email and a wrong password."""
    user = repository.get_by_email(session, email=email.strip().lower())
    valid, rehash = verify_password(password, user.password_hash if user else None)
    if user is None or not valid:
        log.info("login_failed")
        raise InvalidCredentials()
    if rehash:
        repository.update_password_hash(session, user=user, password_hash=rehash)
    log.info("login_succeeded", user_id=user.id)
    return _issue_pair(session, user=user, family_id=uuid.uuid4().hex, signer=signer, refresh_ttl=refresh_ttl)


def refresh(session: Session, *, refresh_token: str, signer: Signer, refresh_ttl: int) -> TokenPair:
    """Spend the refresh token for a new pair. A token that was already spent means it leaked:
    the whole family is revoked, and that revocation is committed here before the 401 is raised
    (the request's session would otherwise roll it back with the error)."""
    now = utcnow()
    token = repository.get_refresh_token(session, token_hash=hash_refresh_token(refresh_token))
    if token is None or token.revoked_at is not None or token.expires_at <= now:
        raise InvalidRefreshToken()
    if not repository.spend_refresh_token(session, token_id=token.id, now=now):
        repository.revoke_family(session, family_id=token.family_id, now=now)
        session.commit()
        log.warning("refresh_token_reused", family_id=token.family_id, user_id=token.user_id)
        raise InvalidRefreshToken()
    user = repository.get(session, user_id=token.user_id)
    if user is None:
        raise InvalidRefreshToken()
    return _issue_pair(session, user=user, family_id=token.family_id, signer=signer, refresh_ttl=refresh_ttl)


def logout(session: Session, *, refresh_token: str) -> None:
    """End the login the token belongs to; unknown tokens are ignored (logout is idempotent)."""
    token = repository.get_refresh_token(session, token_hash=hash_refresh_token(refresh_token))
    if token is not None:
        repository.revoke_family(session, family_id=token.family_id, now=utcnow())


def get_user(session: Session, *, user_id: int, caller: Principal) -> User:
    """A user the caller may see: itself, or anyone for an admin."""
    if user_id != caller.id and not caller.is_admin:
        raise Forbidden("You may only read your own account.")
    user = repository.get(session, user_id=user_id)
    if user is None:
        raise NotFound("No such user.")
    return user


def change_role(session: Session, *, user_id: int, role: Role) -> User:
    """Set a user's role (the caller is an admin)."""
    user = repository.get(session, user_id=user_id)
    if user is None:
        raise NotFound("No such user.")
    return repository.update_role(session, user=user, role=role)


def ensure_admin(session: Session, *, email: str, password: str, username: str) -> bool:
    """Create the first admin if no account has that email; an existing account is never touched."""
    email = email.strip().lower()
    if repository.get_by_email(session, email=email) is not None:
        return False
    try:
        with session.begin_nested():
            repository.create(
                session, username=username, email=email, password_hash=hash_password(password), role=Role.ADMIN
            )
    except IntegrityError:
        return False  # another prestart created it first
    return True


def _issue_pair(session: Session, *, user: User, family_id: str, signer: Signer, refresh_ttl: int) -> TokenPair:
    now = utcnow()
    refresh_token = new_refresh_token()
    repository.create_refresh_token(
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
