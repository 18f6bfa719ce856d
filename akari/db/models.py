"""SQLAlchemy 2.x models: users, generations, login failures and admin preferences."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    """Naive UTC: stored the same way on SQLite and PostgreSQL."""
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # always lower-case
    name: Mapped[str] = mapped_column(String(128), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    password_hash: Mapped[str | None] = mapped_column(String(128), nullable=True)  # bcrypt; None = cannot sign in
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    daily_quota: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None = the default quota
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    generations: Mapped[list[Generation]] = relationship(back_populates="user")

    @property
    def is_admin(self) -> bool:
        return "admin" in (self.roles or [])


class Generation(Base):
    __tablename__ = "generations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    prompt: Mapped[str] = mapped_column(Text)
    steps: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    model: Mapped[str] = mapped_column(String(128))
    generator: Mapped[str] = mapped_column(String(32))  # cloudflare | offline
    store: Mapped[str] = mapped_column(String(32))  # cloudinary | local
    # queued -> running -> succeeded | failed | pending_upload (generated, kept in the spool, upload to retry)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    error_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)  # the user's sentence
    error_detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # provider text, for the log
    image_key: Mapped[str | None] = mapped_column(String(512), nullable=True)
    image_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    thumbnail_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    image_format: Mapped[str | None] = mapped_column(String(8), nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    neurons: Mapped[float] = mapped_column(Float, default=0.0)  # estimated provider cost
    generate_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    store_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    runner: Mapped[str | None] = mapped_column(String(128), nullable=True)  # host:pid that ran it
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    is_favourite: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    user: Mapped[User] = relationship(back_populates="generations")

    __table_args__ = (
        # Gallery "Mine" and the daily quota: one user's rows, newest first.
        Index("ix_generations_user_created", "user_id", "created_at"),
        # Community feed: shared, visible images, newest first.
        Index(
            "ix_generations_public_created",
            "created_at",
            sqlite_where=text("is_public = 1 AND status = 'succeeded' AND deleted_at IS NULL"),
            postgresql_where=text("is_public AND status = 'succeeded' AND deleted_at IS NULL"),
        ),
        # Usage page: everything in a date range.
        Index("ix_generations_created", "created_at"),
        # Pending uploads and stuck rows.
        Index("ix_generations_status", "status"),
    )


class LoginFailure(Base):
    """One failed sign-in; counted over a time window for throttling."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    __table_args__ = (Index("ix_login_failures_username_at", "username", "at"),)


class Preference(Base):
    """Admin-set preferences (registration mode, default quota), one JSON value per key."""

    __tablename__ = "preferences"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)
