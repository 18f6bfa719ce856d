"""Revocable sign-in sessions: the database, not the cookie, says who is signed in, and ending a session is at once."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from akari.accounts import CurrentUser, current_of, end_sessions, may_sign_in
from akari.db.models import SignInSession, User, utcnow

SESSION_LIFETIME = timedelta(days=14)
TICKET_LIFETIME = timedelta(seconds=60)
# Writing "last seen" on every click would make each page run a write: a minute's precision is plenty.
LAST_SEEN_PRECISION = timedelta(seconds=60)
MAX_USER_AGENT_CHARS = 256


def token_hash(token: str, key: str = "") -> str:
    """Tokens are 256 random bits, kept as an HMAC under the cookie key: whoever reads the table (or a backup)
    learns nothing that signs anyone in, nor can they test a guessed token without the key."""
    return hmac.new(key.encode(), token.encode("utf-8", "replace"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Started:
    """A new session: its id (kept server-side by the tab) and the one-time ticket the browser trades for a cookie."""

    id: int
    ticket: str


@dataclass(frozen=True)
class SessionInfo:
    """One row of a user's sessions list."""

    id: int
    user_agent: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime


class SignIns:
    """Starting, checking, listing and ending sign-in sessions; one per studio."""

    def __init__(self, sessions: sessionmaker[Session], key: str = "") -> None:
        self.sessions = sessions
        self._key = key

    def _hash(self, token: str) -> str:
        return token_hash(token, self._key)

    def start(self, user_id: int, user_agent: str = "", now: datetime | None = None) -> Started:
        now = now or utcnow()
        ticket = secrets.token_urlsafe(32)
        with self.sessions.begin() as session:
            # The user's expired sessions go when they sign in again: the table holds live sessions, and a few more.
            session.execute(delete(SignInSession).where(SignInSession.user_id == user_id,
                                                        SignInSession.expires_at <= now))
            row = SignInSession(user_id=user_id, ticket_hash=self._hash(ticket),
                                ticket_expires_at=now + TICKET_LIFETIME, created_at=now, last_seen_at=now,
                                expires_at=now + SESSION_LIFETIME,
                                user_agent=(user_agent or "")[:MAX_USER_AGENT_CHARS])
            session.add(row)
            session.flush()
            return Started(row.id, ticket)

    def redeem(self, ticket: str, now: datetime | None = None) -> str | None:
        """Trade a ticket for the session's cookie token, once, within a minute of the sign-in; None otherwise."""
        if not isinstance(ticket, str) or not ticket or len(ticket) > 128:
            return None
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        with self.sessions.begin() as session:
            # One guarded UPDATE: two redemptions of the same ticket cannot both succeed.
            done = session.execute(
                update(SignInSession)
                .where(SignInSession.ticket_hash == self._hash(ticket), SignInSession.ticket_expires_at > now,
                       SignInSession.expires_at > now)
                .values(token_hash=self._hash(token), ticket_hash=None, ticket_expires_at=None)
            )
        return token if done.rowcount == 1 else None

    def user(self, session_id: int | None, now: datetime | None = None) -> CurrentUser | None:
        """The user of a live session (not ended, not expired, the account enabled), else None. Read on every run."""
        if not isinstance(session_id, int):
            return None
        found = self._live(SignInSession.id == session_id, now)
        return found[1] if found else None

    def find(self, token: str | None, now: datetime | None = None) -> tuple[int, CurrentUser] | None:
        """The session and user a cookie token names, if it is live."""
        if not isinstance(token, str) or not token or len(token) > 128:
            return None
        return self._live(SignInSession.token_hash == self._hash(token), now)

    def _live(self, which: ColumnElement[bool], now: datetime | None) -> tuple[int, CurrentUser] | None:
        """One query for the session and its user; "last seen" written at most once a minute."""
        now = now or utcnow()
        with self.sessions() as session:
            found = session.execute(
                select(SignInSession.id, SignInSession.last_seen_at, User).join(User, User.id == SignInSession.user_id)
                .where(which, SignInSession.expires_at > now, may_sign_in())
            ).first()
            if found is None:
                return None
            session_id, last_seen_at, user = found
            current = current_of(user)
        if last_seen_at < now - LAST_SEEN_PRECISION:
            with self.sessions.begin() as session:
                session.execute(update(SignInSession).where(SignInSession.id == session_id).values(last_seen_at=now))
        return session_id, current

    def list_for(self, user_id: int, now: datetime | None = None) -> list[SessionInfo]:
        now = now or utcnow()
        with self.sessions() as session:
            rows = session.scalars(
                select(SignInSession)
                .where(SignInSession.user_id == user_id, SignInSession.expires_at > now)
                .order_by(SignInSession.last_seen_at.desc())
            ).all()
            return [SessionInfo(r.id, r.user_agent, r.created_at, r.last_seen_at, r.expires_at) for r in rows]

    def end(self, session_id: int | None, *, user_id: int | None = None) -> bool:
        """End one session (log out, or the owner's revoke: `user_id` makes sure it is theirs). True if it was live."""
        if not isinstance(session_id, int):
            return False
        query = delete(SignInSession).where(SignInSession.id == session_id)
        if user_id is not None:
            query = query.where(SignInSession.user_id == user_id)
        with self.sessions.begin() as session:
            return session.execute(query).rowcount == 1

    def end_token(self, token: str | None) -> None:
        if isinstance(token, str) and token and len(token) <= 128:
            with self.sessions.begin() as session:
                session.execute(delete(SignInSession).where(SignInSession.token_hash == self._hash(token)))

    def end_all(self, user_id: int, *, keep: int | None = None) -> None:
        """Sign a user out everywhere (but the session `keep`, the one asking)."""
        with self.sessions.begin() as session:
            end_sessions(session, user_id, keep=keep)
