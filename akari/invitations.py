"""Invitations: single-use (or N-use) expiring links an administrator creates; the only way to register when
registration is not open, since an email typed into a form proves nothing about who typed it."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from akari.db.models import Invitation as InvitationRow
from akari.db.models import utcnow
from akari.errors import AuthError, InvalidInput

DEFAULT_DAYS = 7
MAX_DAYS = 90
MAX_USES = 500
MAX_TOKEN_CHARS = 128
UNUSABLE = "This invitation link is used up, expired or was withdrawn. Ask your administrator for a new one."


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Invitation:
    id: int
    email: str  # "" when anyone holding the link may use it
    uses_left: int
    expires_at: datetime
    created_at: datetime


def _invitation(row: InvitationRow) -> Invitation:
    return Invitation(row.id, row.email or "", row.uses_left, row.expires_at, row.created_at)


def _usable(token: object, now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (InvitationRow.token_hash == _hash(str(token)), InvitationRow.uses_left > 0, InvitationRow.expires_at > now)


def take(session: Session, token: object, email: str, now: datetime | None = None) -> None:
    """Use one use of an invitation in the caller's transaction (the registration's): refused unless it is valid
    and, when it names an email, that is the email registering. Two registrations cannot share the last use."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise AuthError(UNUSABLE)
    now = now or utcnow()
    row = session.scalar(select(InvitationRow).where(*_usable(token, now)))
    if row is None:
        raise AuthError(UNUSABLE)
    if row.email and row.email != email:
        raise AuthError("This invitation is for another email address.")
    taken = session.execute(update(InvitationRow).where(InvitationRow.id == row.id, InvitationRow.uses_left > 0)
                            .values(uses_left=InvitationRow.uses_left - 1))
    if taken.rowcount != 1:
        raise AuthError(UNUSABLE)


class Invitations:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def create(self, created_by: int, *, email: str = "", uses: int = 1, days: int = DEFAULT_DAYS,
               now: datetime | None = None) -> tuple[Invitation, str]:
        """A new invitation and its secret token (shown once, in the link; only its hash is kept)."""
        from akari.accounts import check_email  # the one email rule

        email = check_email(email)
        if email and uses != 1:
            raise InvalidInput("An invitation for one email address is used once.")
        if not 1 <= int(uses) <= MAX_USES:
            raise InvalidInput(f"An invitation may be used from 1 to {MAX_USES} times.")
        if not 1 <= int(days) <= MAX_DAYS:
            raise InvalidInput(f"An invitation may last from 1 to {MAX_DAYS} days.")
        now = now or utcnow()
        token = secrets.token_urlsafe(32)
        with self.sessions.begin() as session:
            row = InvitationRow(token_hash=_hash(token), email=email, uses_left=int(uses),
                                expires_at=now + timedelta(days=int(days)), created_by=created_by, created_at=now)
            session.add(row)
            session.flush()
            return _invitation(row), token

    def find(self, token: object, now: datetime | None = None) -> Invitation | None:
        """The invitation a link names, if it can still be used."""
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
            return None
        with self.sessions() as session:
            row = session.scalar(select(InvitationRow).where(*_usable(token, now or utcnow())))
            return _invitation(row) if row else None

    def open(self, now: datetime | None = None) -> list[Invitation]:
        with self.sessions() as session:
            rows = session.scalars(select(InvitationRow).where(InvitationRow.uses_left > 0,
                                                               InvitationRow.expires_at > (now or utcnow()))
                                   .order_by(InvitationRow.id.desc())).all()
            return [_invitation(r) for r in rows]

    def withdraw(self, invitation_id: int) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(InvitationRow).where(InvitationRow.id == invitation_id))
