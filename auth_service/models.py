from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from service_kit.auth import Role
from service_kit.db import BigId, UTCDateTime, exact_string, new_metadata, utcnow


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


class LoginFailures(Base):
    """Recent failed logins for one email, known or not (so a throttle tells nothing about which accounts
    exist). Every replica reads and writes the same row; a successful login deletes it, and a row idle for
    LOGIN_FORGET_AFTER_SECONDS is forgotten."""

    __tablename__ = "login_failures"

    email: Mapped[str] = mapped_column(exact_string(254), primary_key=True)
    failures: Mapped[int]
    last_failed_at: Mapped[datetime] = mapped_column(index=True)
    # No login for this email before then, right password or not.
    blocked_until: Mapped[datetime | None]


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
