"""Personal API tokens: made at random and shown once, kept as a SHA-256 only, revocable, optionally expiring."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from akari import rate_limits
from akari.accounts import CurrentUser
from akari.db.engine import IMMEDIATE
from akari.db.models import ApiToken, User, utcnow
from akari.db.transactions import retrying, translated
from akari.errors import InvalidInput, NotFound, PermissionDenied, RateLimited, Unauthenticated
from akari.gallery import Viewer

TOKEN_PREFIX = "akari_"
MAX_NAME = 64
MAX_EXPIRY_DAYS = 3650
# Failed token attempts one client address may make per minute before it is told to wait.
MAX_FAILED_PER_MINUTE = 10
# The stored last-used time moves at most this often: a busy token does not rewrite its row on every call.
LAST_USED_RESOLUTION = timedelta(seconds=1)
BAD_TOKEN_MESSAGE = "That API token is not valid: it may be mistyped, revoked or expired. Make a new one on the " \
                    "Account page."
DISABLED_MESSAGE = "This account is disabled. Ask your administrator."

_TOKENS = ApiToken.__table__
_USERS = User.__table__
_BY_HASH = (select(_TOKENS.c.id, _TOKENS.c.expires_at, _TOKENS.c.revoked_at, _TOKENS.c.last_used_at,
                   _USERS.c.id.label("user_id"), _USERS.c.username, _USERS.c.name, _USERS.c.email, _USERS.c.roles,
                   _USERS.c.enabled)
            .join(_USERS, _USERS.c.id == _TOKENS.c.user_id)
            .where(_TOKENS.c.token_hash == bindparam("hash")))
_TOUCH = update(_TOKENS).where(_TOKENS.c.id == bindparam("token_id")).values(last_used_at=bindparam("now"))


def token_hash(token: str) -> str:
    # A token has 256 random bits: a plain SHA-256 cannot be reversed, and it lets us find the row by its hash.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TokenInfo:
    """One token as lists show it; the token itself is never kept."""

    id: int
    user_id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime | None = None) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= (now or utcnow()):
            return "expired"
        return "active"


@dataclass(frozen=True)
class NewToken:
    info: TokenInfo
    token: str  # shown once


@dataclass(frozen=True)
class ApiCaller:
    """Who an API request acts as, and through which token (None: the sign-in cookie)."""

    user: Viewer  # the signed-in user (a CurrentUser for tokens)
    token_id: int | None

    @property
    def id(self) -> int:
        return self.user.id


def check_name(raw: str) -> str:
    name = " ".join((raw or "").split())
    if not name:
        raise InvalidInput("Give the token a name, to recognise it later (e.g. 'nightly script').")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"A token's name has at most {MAX_NAME} characters.")
    return name


def check_expiry_days(days: object) -> int | None:
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRY_DAYS:
        raise InvalidInput(f"A token expires after 1 to {MAX_EXPIRY_DAYS} days, or never.")
    return days


class Tokens:
    """Making, listing, revoking and checking tokens; who may do what is decided here."""

    def __init__(self, sessions: sessionmaker[Session], *, rate_per_minute: int = 60) -> None:
        self.sessions = sessions
        self.rate_per_minute = rate_per_minute
        engine: Engine = sessions.kw["bind"]
        self._reader = engine
        self._writer = engine.execution_options(**{IMMEDIATE: True})

    # -- managing ------------------------------------------------------------------------------------------------
    def create(self, actor: Viewer | None, user_id: int, name: str, expires_days: int | None = None) -> NewToken:
        """A new token for `user_id`: one's own, or anyone's for an administrator (actor None: the operator's
        command line)."""
        name = check_name(name)
        days = check_expiry_days(expires_days)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        with self.sessions.begin() as session:
            self._check_actor(session, actor, user_id)
            owner = session.get(User, user_id)
            if owner is None:
                raise NotFound("That account does not exist.")
            if not owner.enabled:
                raise PermissionDenied("A disabled account cannot have API tokens.")
            row = ApiToken(user_id=user_id, name=name, token_hash=token_hash(token), prefix=token[:12],
                           created_at=now, expires_at=None if days is None else now + timedelta(days=days))
            session.add(row)
            session.flush()
            return NewToken(_info(row, owner.username), token)

    def list(self, actor: Viewer | None, user_id: int | None = None) -> list[TokenInfo]:
        """Tokens of one user (one's own; an administrator or the operator: anyone's) or, with None, everyone's
        (administrators and the operator only); newest first."""
        with self.sessions() as session:
            if user_id is None:
                if actor is not None and not _actor(session, actor).is_admin:
                    raise PermissionDenied("Only administrators can list everyone's tokens.")
            else:
                self._check_actor(session, actor, user_id)
            query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
            if user_id is not None:
                query = query.where(ApiToken.user_id == user_id)
            rows = session.execute(query.order_by(ApiToken.id.desc())).all()
            return [_info(row, username) for row, username in rows]

    def revoke(self, actor: Viewer | None, token_id: int) -> TokenInfo:
        """Revoke a token at once: its next call fails. Its owner or an administrator."""
        with self.sessions.begin() as session:
            found = session.execute(select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
                                    .where(ApiToken.id == token_id)).first()
            if found is None:
                raise NotFound(f"There is no token #{token_id}.")
            row, username = found
            try:
                self._check_actor(session, actor, row.user_id)
            except PermissionDenied:
                raise NotFound(f"There is no token #{token_id}.") from None
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            return _info(row, username)

    @staticmethod
    def _check_actor(session: Session, actor: Viewer | None, user_id: int) -> None:
        if actor is None:
            return
        user = _actor(session, actor)
        if user.id != user_id and not user.is_admin:
            raise PermissionDenied("You can only manage your own API tokens.")

    # -- checking ------------------------------------------------------------------------------------------------
    def authenticate(self, token: str, client: str) -> ApiCaller:
        """The caller a token stands for, counted against its rate limit. Refused at once for an unknown, revoked
        or expired token and a disabled account; failed attempts are counted per client address."""
        now = utcnow()
        fail_key = f"fail:{client}"[:80]
        try:
            with self._reader.connect() as connection:  # a read: no write lock for the check
                wait = rate_limits.wait_for(connection, fail_key, MAX_FAILED_PER_MINUTE, now)
            if wait is not None:
                raise RateLimited("Too many attempts with a wrong API token from your address. "
                                  f"Try again in {_seconds(wait)}.", retry_after=wait, reason="too_many_failures")
            return retrying(lambda: self._authenticate(token, fail_key, now), what="checking an API token")
        except SQLAlchemyError as exc:
            raise translated(exc) from exc

    def _authenticate(self, token: str, fail_key: str, now: datetime) -> ApiCaller:
        refusal: Unauthenticated | PermissionDenied | None = None
        wait: int | None = None
        with self._writer.begin() as connection:
            row = connection.execute(_BY_HASH, {"hash": token_hash(token)}).first() \
                if token.startswith(TOKEN_PREFIX) else None
            if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
                rate_limits.count_hit(connection, fail_key, now)
                refusal = Unauthenticated(BAD_TOKEN_MESSAGE)
            elif not row.enabled:
                refusal = PermissionDenied(DISABLED_MESSAGE, reason="account_disabled")
            else:
                if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
                    connection.execute(_TOUCH, {"token_id": row.id, "now": now})
                wait = rate_limits.take(connection, f"token:{row.id}", self.rate_per_minute, now)
        # Committed: a failed attempt is counted even though we refuse.
        if refusal is not None:
            raise refusal
        if wait is not None:
            raise RateLimited(f"This token may make {self.rate_per_minute} requests a minute. "
                              f"Try again in {_seconds(wait)}.", retry_after=wait)
        user = CurrentUser(row.user_id, row.username, row.name or row.username, row.email or "",
                           tuple(row.roles or ()))
        return ApiCaller(user, row.id)


def _seconds(count: int) -> str:
    return "1 second" if count == 1 else f"{count} seconds"


def _actor(session: Session, viewer: Viewer) -> User:
    user = session.get(User, viewer.id)
    if user is None or not user.enabled:
        raise PermissionDenied(DISABLED_MESSAGE)
    return user


def _info(row: ApiToken, username: str) -> TokenInfo:
    return TokenInfo(row.id, row.user_id, username, row.name, row.prefix, row.created_at, row.expires_at,
                     row.last_used_at, row.revoked_at)

