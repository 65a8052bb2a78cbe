from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service_kit.auth import Role
from service_kit.db.types import BigId, UTCDateTime, exact_string, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()
    type_annotation_map = {datetime: UTCDateTime()}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(50))
    # Stored normalised (NFC, lower-cased) and compared byte for byte: `José@` and `josé@` are one account on
    # every backend, `jose@` another (MySQL's default collation would have made all three one).
    email: Mapped[str] = mapped_column(exact_string(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=16, values_callable=lambda roles: [r.value for r in roles]),
        default=Role.USER,
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FailedLogins(Base):
    """A login throttle's count for one subject. An attempt is counted *before* its password is checked, so
    attempts sent at once are refused once the count blocks, however many are in flight; a successful login
    deletes the row, and a row idle for LOGIN_FORGET_AFTER_SECONDS is forgotten."""

    __abstract__ = True

    subject: Mapped[str]
    failures: Mapped[int]
    last_failed_at: Mapped[datetime] = mapped_column(index=True)
    # No login counted against this subject before then, right password or not.
    blocked_until: Mapped[datetime | None]


class LoginFailures(FailedLogins):
    """Per email, known or not (so a throttle tells nothing about which accounts exist), for every client the
    account does not know: guessers, and the owner on a new device."""

    __tablename__ = "login_failures"

    subject: Mapped[str] = mapped_column("email", exact_string(254), primary_key=True)


class DeviceLoginFailures(FailedLogins):
    """Per device: a client holding the account's device cookie (auth_service/devices.py) is counted here
    alone, so others' guesses at the account never lock it out, and its own guesses still slow it down."""

    __tablename__ = "device_login_failures"

    subject: Mapped[str] = mapped_column("device_id", String(32), primary_key=True)


class RefreshToken(Base):
    """One refresh token; a login starts a family, each rotation adds a member and spends the previous."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index(None, "family_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
