"""SQLAlchemy 2.x models: users, generations, usage summaries, login failures and admin preferences."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
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

from akari.roles import is_admin


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
    daily_neuron_quota: Mapped[float | None] = mapped_column(Float, nullable=True)  # None = the default
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    generations: Mapped[list[Generation]] = relationship(back_populates="user")

    @property
    def is_admin(self) -> bool:
        return is_admin(self.roles)


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
    # queued -> running -> succeeded | failed | pending_upload (made and spooled, its upload to retry) | cancelled.
    # A pending upload is claimed (running) again to retry it; every change is guarded by the expected status.
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
    # The model's other inputs (None where not given or not taken); width and height hold the asked size until the
    # image replaces them with its own.
    guidance: Mapped[float | None] = mapped_column(Float, nullable=True)
    negative_prompt: Mapped[str | None] = mapped_column(Text, nullable=True)
    reference_key: Mapped[str | None] = mapped_column(String(512), nullable=True)  # a stored image's key
    reference_store: Mapped[str | None] = mapped_column(String(32), nullable=True)
    generate_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    store_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)  # the instance running it
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # times claimed
    source: Mapped[str] = mapped_column(String(8), default="ui")  # ui | api | cli
    # Names the stored image (with the id): a repeated upload replaces the first instead of adding a copy.
    asset_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Write-ahead: the spooled image's name and host, from the moment the provider answered until it is stored.
    spool_key: Mapped[str | None] = mapped_column(String(255), nullable=True)
    spool_host: Mapped[str | None] = mapped_column(String(128), nullable=True)
    upload_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # of a pending upload
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the provider's, for the log
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
        Index("ix_generations_user_started", "user_id", "started_at"),
        Index(
            "ix_generations_queue",
            "status",
            "id",
            sqlite_where=text("status IN ('queued', 'running', 'pending_upload')"),
            postgresql_where=text("status IN ('queued', 'running', 'pending_upload')"),
        ),
        # Gallery pages in id (= time) order: one user's visible images, and the shared ones. Prompt search has its
        # own structures (FTS5 table / GIN index), created by migration 0002 alone.
        Index(
            "ix_generations_gallery_user",
            "user_id",
            "id",
            sqlite_where=text("status = 'succeeded' AND deleted_at IS NULL"),
            postgresql_where=text("status = 'succeeded' AND deleted_at IS NULL"),
        ),
        Index(
            "ix_generations_gallery_public",
            "id",
            sqlite_where=text("is_public = 1 AND status = 'succeeded' AND deleted_at IS NULL"),
            postgresql_where=text("is_public AND status = 'succeeded' AND deleted_at IS NULL"),
        ),
        # Is an uploaded reference image still used by another generation? (migration 0007)
        Index("ix_generations_reference", "reference_key", sqlite_where=text("reference_key IS NOT NULL"),
              postgresql_where=text("reference_key IS NOT NULL")),
    )


class Instance(Base):
    """A process that runs generations (the app, a headless worker, a command), alive while it beats."""

    __tablename__ = "instances"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random per process start
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # app | worker | cli
    workers: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class LoginFailure(Base):
    """One sign-in attempt being checked, or one that failed; counted over a time window for throttling."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    client: Mapped[str] = mapped_column(String(64), default="")  # the visitor's address, as the server saw it
    in_flight: Mapped[bool] = mapped_column(Boolean, default=False)  # reserved, its password still being checked

    __table_args__ = (Index("ix_login_failures_username_at", "username", "at"),
                      Index("ix_login_failures_username_client_at", "username", "client", "at"))


class Preference(Base):
    """Admin-set preferences (registration mode, default quota), one JSON value per key."""

    __tablename__ = "preferences"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[object] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


class UsageDaily(Base):
    """Per UTC day and user: generations, neurons and time to image by status, steps, failure reason and time bucket.

    Triggers append every change to `usage_delta` (migration 0003); one writer at a time folds those in here.
    Readers add the deltas not yet folded, so figures are always exact.
    """

    __tablename__ = "usage_daily"

    dimension: Mapped[str] = mapped_column(String(8), primary_key=True)  # status | steps | reason | time
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(8), primary_key=True, default="ui")  # ui | api | cli (0004)
    model: Mapped[str] = mapped_column(String(128), primary_key=True, default="")  # the model id (0007)
    generations: Mapped[int] = mapped_column(Integer)
    neurons: Mapped[float] = mapped_column(Float)
    time_ms: Mapped[int] = mapped_column(BigInteger)


class UsageDelta(Base):
    """A change to the summaries, appended by the triggers; inserts never wait on another transaction's locks."""

    __tablename__ = "usage_delta"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(8))
    user_id: Mapped[int] = mapped_column(Integer)
    day: Mapped[date] = mapped_column(Date)
    value: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(8), default="ui")
    model: Mapped[str] = mapped_column(String(128), default="")
    generations: Mapped[int] = mapped_column(Integer)
    neurons: Mapped[float] = mapped_column(Float)
    time_ms: Mapped[int] = mapped_column(BigInteger)


class ApiToken(Base):
    """A personal HTTP API token: only its SHA-256 is kept; the token itself is shown once, when made."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the token's first characters, to recognise it in a list
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)

    __table_args__ = (Index("ix_api_tokens_user", "user_id"),)


class ApiHit(Base):
    """Requests counted per key (a token, or a client address's failed attempts) and per second (`window`), for rate
    limits over any sixty seconds that hold across processes."""

    __tablename__ = "api_hits"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    window: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)


class SignInSession(Base):
    """A browser signed in as a user: the cookie holds a random token, the row only its hash; ending it is deleting it.

    A new sign-in starts with a one-time ticket (hashed too) that the browser trades once for its HttpOnly cookie.
    """

    __tablename__ = "signin_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    ticket_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    ticket_expires_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    user_agent: Mapped[str] = mapped_column(String(256), default="")

    __table_args__ = (Index("ix_signin_sessions_user", "user_id"),)


class Invitation(Base):
    """An administrator's invitation to register: a hashed token, for one email or for N uses, until it expires."""

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(254), default="")  # "" = anyone with the link
    uses_left: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class EmailCode(Base):
    """A one-time code sent to an email address (registration by domain allowlist); only its salted hash is kept."""

    __tablename__ = "email_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    salt: Mapped[str] = mapped_column(String(32))
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
