"""Accounts in the database: credentials for sign-in, passwords, roles, quotas, registration and login throttling."""

from __future__ import annotations

import functools
import math
import os
import re
import secrets
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import bcrypt
from sqlalchemy import ColumnElement, delete, exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from akari import invitations, preferences
from akari.config import DEFAULT_BCRYPT_ROUNDS, Settings
from akari.db.models import LoginFailure, SignInSession, User, utcnow
from akari.db.transactions import serialise
from akari.errors import AuthError, ConfigError, InvalidInput, NotFound, PermissionDenied
from akari.inputs import check_field, has_control_characters
from akari.quota import check_quota
from akari.roles import ADMIN, MEMBER, ROLES, is_admin, role_label
from akari.verification import take_code

USERNAME_RULE = "3 to 32 characters: lower-case letters, digits, dot, dash or underscore"
_USERNAME = re.compile(r"[a-z0-9_.-]{3,32}")
# The command line records its generations under "cli": whoever took that name would own them.
RESERVED_USERNAMES = frozenset({"cli"})

MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_BYTES = 72  # bcrypt reads no further (bcrypt 5 refuses longer input)
PASSWORD_RULE = (
    f"At least {MIN_PASSWORD_CHARS} characters; a passphrase of a few words is ideal. "
    f"At most {MAX_PASSWORD_BYTES} bytes. Spaces inside are kept; spaces at the start or end are ignored."
)

_EMAIL = re.compile(r"[a-z0-9._%+-]{1,64}@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,63}")
_DOMAIN = re.compile(r"@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,63}")
MAX_NAME_CHARS = 128
MAX_USERNAME_FIELD_CHARS = 64

# 5 failures within 15 minutes pause that username for 15 minutes. Attempts during a pause are refused before the
# password is looked at and are not counted, so a pause always ends: nobody can be locked out for ever.
# The count is per username *and client* (the visitor's address), so a stranger pausing a username from their
# machine does not pause its owner on theirs; a higher cap per username over all clients bounds a guesser who
# spreads over many addresses. An attempt is counted from the moment it is reserved, before its password is checked.
LOGIN_FAILURE_LIMIT = 5
LOGIN_FAILURE_LIMIT_ALL_CLIENTS = 50
LOGIN_WINDOW = timedelta(minutes=15)
LOGIN_PAUSE = timedelta(minutes=15)
MAX_CLIENT_CHARS = 64

COOKIE_KEY_FILE = "cookie_key"
MIN_COOKIE_KEY_CHARS = 32
MIN_COOKIE_KEY_DISTINCT_CHARS = 16


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user as the database says now (enabled, roles), not as the cookie remembers."""

    id: int
    username: str
    name: str
    email: str
    roles: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return is_admin(self.roles)

    @property
    def role_label(self) -> str:
        return role_label(self.roles)


@dataclass(frozen=True)
class Account:
    """One row of the admin's users table."""

    id: int
    username: str
    name: str
    email: str
    roles: tuple[str, ...]
    enabled: bool
    can_sign_in: bool  # has a password (the command line's own account has none)
    daily_quota: int | None  # None: the default quota
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return is_admin(self.roles)


@dataclass(frozen=True)
class Registration:
    mode: str  # closed | open | allowlist
    allowlist: tuple[str, ...]  # emails (a@b.c) and domains (@b.c)

    def allows(self, email: str, *, email_verified: bool = False) -> bool:
        """Whether someone with this email may create their own account without an invitation. An allowlist counts
        only for a verified email: anyone can type ceo@allowed.com into a form."""
        if self.mode == "open":
            return True
        if self.mode != "allowlist" or not email_verified:
            return False
        email = email.strip().lower()
        domain = "@" + email.rpartition("@")[2]
        return email in self.allowlist or domain in self.allowlist


# -- rules -----------------------------------------------------------------------------------------------------------
def normalise_username(raw: str) -> str:
    return raw.strip().lower()


def sign_in_username(raw: object) -> str:
    """A username as typed into a sign-in form, normalised; control characters are refused in words."""
    return normalise_username(check_field(raw, "username", MAX_USERNAME_FIELD_CHARS))


def username_problem(username: str) -> str | None:
    """Why this (normalised) username cannot be used, or None."""
    if not _USERNAME.fullmatch(username):
        return f"A username must be {USERNAME_RULE}."
    if username in RESERVED_USERNAMES:
        return f"The username {username!r} is reserved for the command line."
    return None


def check_username(raw: str) -> str:
    username = sign_in_username(raw)
    problem = username_problem(username)
    if problem:
        raise InvalidInput(problem)
    return username


def password_problems(password: str, username: str = "") -> list[str]:
    """Every rule the (stripped) password breaks, in words; empty when it is fine."""
    problems = []
    if has_control_characters(password):
        problems.append("The password must not contain control characters (such as NUL).")
    if len(password) < MIN_PASSWORD_CHARS:
        problems.append(f"The password must be at least {MIN_PASSWORD_CHARS} characters long.")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        problems.append(f"The password must be at most {MAX_PASSWORD_BYTES} bytes long.")
    if password and len(set(password)) == 1:
        problems.append("The password must not be one character repeated.")
    if username and password.lower() == username.lower():
        problems.append("The password must not be the username.")
    return problems


def check_password(raw: str, username: str = "") -> str:
    """The password as it will be kept (stripped, like the sign-in form does), or InvalidInput."""
    password = raw.strip()
    problems = password_problems(password, username)
    if problems:
        raise InvalidInput(" ".join(problems))
    return password


def check_email(raw: str, *, required: bool = False) -> str:
    email = check_field(raw, "email address", 320).strip().lower()
    if not email:
        if required:
            raise InvalidInput("Enter an email address.")
        return ""
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise InvalidInput("That email address does not look right (expected name@example.com).")
    return email


def check_name(raw: str, fallback: str) -> str:
    name = " ".join(check_field(raw, "name", 4 * MAX_NAME_CHARS).split())
    if len(name) > MAX_NAME_CHARS:
        raise InvalidInput(f"The name must be at most {MAX_NAME_CHARS} characters.")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidInput("The name contains characters that cannot be shown.")
    return name or fallback


def check_roles(roles: Iterable[str]) -> list[str]:
    chosen = [r for r in ROLES if r in set(roles)]
    unknown = set(roles) - set(ROLES)
    if unknown or not chosen:
        raise InvalidInput(f"Roles must be one or more of: {', '.join(ROLES)}.")
    return chosen


def parse_allowlist(lines: Iterable[str]) -> list[str]:
    """Emails and @domains, one per item; blank items ignored; refused with the first bad entry named."""
    entries: list[str] = []
    for raw in lines:
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry.startswith("@"):
            if not _DOMAIN.fullmatch(entry):
                raise InvalidInput(f"{raw.strip()!r} is not a domain: write it as @example.com.")
        elif not _EMAIL.fullmatch(entry):
            raise InvalidInput(f"{raw.strip()!r} is neither an email address nor an @domain.")
        if entry not in entries:
            entries.append(entry)
    return entries


# -- passwords -------------------------------------------------------------------------------------------------------
def hash_password(password: str, rounds: int = DEFAULT_BCRYPT_ROUNDS) -> str:
    """A bcrypt hash of the password; each round doubles the time (the tests use 4)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def password_matches(password: str, password_hash: str | None) -> bool:
    if not password_hash or len(password.encode()) > MAX_PASSWORD_BYTES:
        return False
    try:
        return bcrypt.checkpw(password.encode(), password_hash.encode())
    except ValueError:  # a malformed hash in the database
        return False


@functools.cache
def _dummy_hash(rounds: int) -> str:
    """A hash nobody's password matches, at the configured cost: checked against for unknown usernames."""
    return hash_password(secrets.token_urlsafe(24), rounds)


def _looks_like_bcrypt(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}", value) is not None


# -- the database side -----------------------------------------------------------------------------------------------
def may_sign_in() -> ColumnElement[bool]:
    return User.enabled.is_(True) & User.password_hash.is_not(None)


def current_of(user: User) -> CurrentUser:
    return CurrentUser(user.id, user.username, user.name or user.username, user.email or "", tuple(user.roles or ()))


def _account(user: User) -> Account:
    return Account(user.id, user.username, user.name or user.username, user.email or "", tuple(user.roles or ()),
                   bool(user.enabled), user.password_hash is not None, user.daily_quota, user.created_at)


def _user(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == normalise_username(username)))
    if user is None:
        raise NotFound(f"No account is named {normalise_username(username)!r}.")
    return user


# One answer whether the username or the email is the one in use: a registration form must not tell a visitor
# which emails have accounts here.
NOT_FREE = ("That username or email address cannot be used for a new account. Choose another username; if you "
            "already have an account, sign in instead.")


def _ensure_free(session: Session, username: str, email: str) -> None:
    if session.scalar(select(exists().where(User.username == username))):
        raise AuthError(NOT_FREE, detail="username taken")
    if email and session.scalar(select(exists().where(User.email == email))):
        raise AuthError(NOT_FREE, detail="email taken")


def end_sessions(session: Session, user_id: int, *, keep: int | None = None) -> None:
    """End a user's sign-in sessions in the caller's transaction, so the change and the sign-out happen together."""
    query = delete(SignInSession).where(SignInSession.user_id == user_id)
    if keep is not None:
        query = query.where(SignInSession.id != keep)
    session.execute(query)


def _enabled_admins(session: Session) -> list[User]:
    return [u for u in session.scalars(select(User).where(may_sign_in())) if is_admin(u.roles)]


def registration_of(session: Session) -> Registration:
    return _registration(session)


def _registration(session: Session) -> Registration:
    return Registration(str(preferences.get(session, "registration_mode")),
                        tuple(preferences.get(session, "registration_allowlist") or ()))


def _throttle_key(username: str) -> str:
    return sign_in_username(username)


class Accounts:
    """Everything about accounts that reads or writes the database; one per studio."""

    def __init__(self, sessions: sessionmaker[Session], *, bcrypt_rounds: int = DEFAULT_BCRYPT_ROUNDS) -> None:
        self.sessions = sessions
        self.bcrypt_rounds = bcrypt_rounds

    # -- reading -----------------------------------------------------------------------------------------------------
    def is_first_run(self) -> bool:
        """True while nobody can sign in: the app then offers to create the administrator."""
        with self.sessions() as session:
            return not session.scalar(select(exists().where(may_sign_in())))

    def current_user(self, username: str | None) -> CurrentUser | None:
        """The user if they may use the app right now (exists, enabled, has a password); read on every page run."""
        if not username:
            return None
        with self.sessions() as session:
            user = session.scalar(
                select(User).where(User.username == normalise_username(username), may_sign_in())
            )
            return current_of(user) if user else None

    def authenticate(self, username: str, password: str) -> CurrentUser | None:
        """The user if the password is theirs and they may sign in, else None. An unknown username costs the same
        bcrypt time as a known one, so the answer's speed does not tell which usernames exist."""
        username = sign_in_username(username)
        check_field(password, "password")
        with self.sessions() as session:
            user = session.scalar(select(User).where(User.username == username, may_sign_in()))
            found = (current_of(user), user.password_hash) if user else None
        if found is None:
            password_matches(password.strip(), _dummy_hash(self.bcrypt_rounds))
            return None
        return found[0] if password_matches(password.strip(), found[1]) else None

    def list(self) -> list[Account]:
        with self.sessions() as session:
            return [_account(u) for u in session.scalars(select(User).order_by(User.username))]

    def get(self, username: str) -> Account:
        with self.sessions() as session:
            return _account(_user(session, username))

    # -- self-registration -------------------------------------------------------------------------------------------
    def register(self, raw_username: str, *, name: str, email: str, password_hash: str,
                 invitation: str | None = None, email_code: str | None = None) -> Account:
        """A registration from the sign-in page, checked here: the mode may have changed since the form showed. With
        an invitation, one of its uses is taken in the same transaction as the account is made; with an emailed code
        (domain allowlist), the code is checked, and used up, first."""
        username = check_username(raw_username)
        email = check_email(email, required=True)
        if not _looks_like_bcrypt(password_hash):
            raise AuthError("The password could not be saved.", detail="not a bcrypt hash")
        verified = False
        if email_code and not invitation:
            check_field(email_code, "code", 16)
            with self.sessions.begin() as session:  # its own transaction: a failed registration keeps the try used
                verified = take_code(session, email, email_code)
            if not verified:
                raise AuthError("That code is wrong or has expired. Ask for a new one.")
        with self.sessions.begin() as session:
            if invitation:
                invitations.take(session, invitation, email)
            elif not _registration(session).allows(email, email_verified=verified):
                raise AuthError("Registration here needs an invitation. Ask your administrator for one.")
            _ensure_free(session, username, email)
            user = User(username=username, name=check_name(name, username), email=email,
                        password_hash=password_hash, roles=[MEMBER], enabled=True)
            session.add(user)
            session.flush()
            return _account(user)

    # -- accounts ----------------------------------------------------------------------------------------------------
    def create_user(
        self,
        username: str,
        password: str,
        *,
        name: str = "",
        email: str = "",
        roles: Iterable[str] = (MEMBER,),
        daily_quota: int | None = None,
        first_admin: bool = False,
    ) -> Account:
        """An account made by an admin (admin page or command line), or the first administrator."""
        username = check_username(username)
        password = check_password(password, username)
        email = check_email(email)
        account_name = check_name(name, username)
        chosen_roles = check_roles(roles)
        check_quota(daily_quota)
        # outside the transaction: bcrypt is slow on purpose
        password_hash = hash_password(password, self.bcrypt_rounds)
        with self.sessions.begin() as session:
            if first_admin:
                # Checked and created under one lock: eight forms submitted at once make one administrator.
                serialise(session, "first-admin")
                if session.scalar(select(exists().where(may_sign_in()))):
                    raise AuthError("The administrator account already exists. Sign in instead.")
            _ensure_free(session, username, email)
            user = User(username=username, name=account_name, email=email, password_hash=password_hash,
                        roles=chosen_roles, enabled=True, daily_quota=daily_quota)
            session.add(user)
            session.flush()
            return _account(user)

    def create_first_admin(self, username: str, password: str, *, name: str = "", email: str = "") -> Account:
        """The administrator made on the first visit; refused once anyone can sign in."""
        if not self.is_first_run():  # the cheap answer; the binding check is inside create_user's transaction
            raise AuthError("The administrator account already exists. Sign in instead.")
        return self.create_user(username, password, name=name, email=email, roles=(ADMIN,), first_admin=True)

    def set_password(self, username: str, new_password: str) -> None:
        """An admin's reset: no old password needed. It also lifts any sign-in pause for that user."""
        username = self.get(username).username
        password_hash = hash_password(check_password(new_password, username), self.bcrypt_rounds)
        with self.sessions.begin() as session:
            user = _user(session, username)
            user.password_hash = password_hash
            end_sessions(session, user.id)  # whoever knew the old password is signed out with it
            session.execute(delete(LoginFailure).where(LoginFailure.username == username))

    def change_password(self, username: str, old_password: str, new_password: str, *,
                        keep_session: int | None = None) -> None:
        """The user's own change: the current password is required. Every other session of theirs ends (the one
        making the change, `keep_session`, stays)."""
        with self.sessions() as session:
            user = _user(session, username)
            username, current_hash = user.username, user.password_hash
        if not password_matches(old_password.strip(), current_hash):
            raise AuthError("The current password is wrong.")
        new = check_password(new_password, username)
        if new == old_password.strip():
            raise InvalidInput("The new password is the same as the current one.")
        password_hash = hash_password(new, self.bcrypt_rounds)
        with self.sessions.begin() as session:
            user = _user(session, username)
            user.password_hash = password_hash
            end_sessions(session, user.id, keep=keep_session)

    def update_profile(self, username: str, *, name: str, email: str) -> Account:
        email = check_email(email)
        with self.sessions.begin() as session:
            user = _user(session, username)
            if email and session.scalar(select(exists().where(User.email == email, User.id != user.id))):
                raise AuthError("Another account already uses that email address.")
            user.name = check_name(name, user.username)
            user.email = email
            session.flush()
            return _account(user)

    def set_enabled(self, username: str, enabled: bool, *, acting: str | None = None) -> None:
        """Disable or enable an account. A disabled user's cookie stops working at their next page run."""
        with self.sessions.begin() as session:
            user = _user(session, username)
            if not enabled:
                if acting and normalise_username(acting) == user.username:
                    raise PermissionDenied("You cannot disable your own account.")
                admins = _enabled_admins(session)
                if admins == [user]:
                    raise PermissionDenied("This is the only administrator: make someone else admin first.")
            user.enabled = enabled
            if not enabled:
                end_sessions(session, user.id)

    def update(self, username: str, *, enabled: bool, roles: Iterable[str], daily_quota: int | None,
               acting: str | None = None) -> Account:
        """The admin's edit of one account, all or nothing, with the same safeguards as the single setters."""
        chosen = check_roles(roles)
        check_quota(daily_quota)
        with self.sessions.begin() as session:
            user = _user(session, username)
            is_self = bool(acting) and normalise_username(acting or "") == user.username
            losing_admin = user in _enabled_admins(session) and (not enabled or ADMIN not in chosen)
            if is_self and not enabled:
                raise PermissionDenied("You cannot disable your own account.")
            if is_self and ADMIN not in chosen and is_admin(user.roles):
                raise PermissionDenied("You cannot remove your own administrator role.")
            if losing_admin and _enabled_admins(session) == [user]:
                raise PermissionDenied("This is the only administrator: make someone else admin first.")
            user.enabled, user.roles, user.daily_quota = enabled, chosen, daily_quota
            if not enabled:
                end_sessions(session, user.id)
            session.flush()
            return _account(user)

    def delete(self, username: str, *, acting: str | None = None) -> None:
        """Remove an account with its generations and sessions. A new account under the same name is a new user
        (a new id): it inherits no session, image or setting of the old one."""
        with self.sessions.begin() as session:
            user = _user(session, username)
            if acting and normalise_username(acting) == user.username:
                raise PermissionDenied("You cannot delete your own account.")
            if _enabled_admins(session) == [user]:
                raise PermissionDenied("This is the only administrator: make someone else admin first.")
            end_sessions(session, user.id)
            # The database cascades to the generations (an ORM delete would try to orphan them instead).
            session.execute(delete(User).where(User.id == user.id))

    def sign_out_everywhere(self, username: str) -> None:
        with self.sessions.begin() as session:
            end_sessions(session, _user(session, username).id)

    def set_daily_quota(self, username: str, quota: int | None) -> None:
        """Generations per UTC day for this user; None follows the default."""
        check_quota(quota)
        with self.sessions.begin() as session:
            _user(session, username).daily_quota = quota

    # -- registration ------------------------------------------------------------------------------------------------
    def registration(self) -> Registration:
        with self.sessions() as session:
            return _registration(session)

    def set_registration(self, mode: str, allowlist: Iterable[str] = ()) -> Registration:
        if mode not in preferences.REGISTRATION_MODES:
            raise InvalidInput(f"Registration must be one of: {', '.join(preferences.REGISTRATION_MODES)}.")
        entries = parse_allowlist(allowlist)
        if mode == "allowlist" and not entries:
            raise InvalidInput("Add at least one email address or @domain, or choose another registration mode.")
        with self.sessions.begin() as session:
            preferences.put(session, "registration_mode", mode)
            preferences.put(session, "registration_allowlist", entries)
        return Registration(mode, tuple(entries))

    # -- signing in and throttling ----------------------------------------------------------------------------------
    def sign_in(self, username: str, password: str, client: str = "", now: datetime | None = None) -> CurrentUser:
        """The user whose password this is, or AuthError with the sentence to show.

        The attempt is reserved in the database first, serialised per username, and counted while its password is
        being checked: a burst of parallel guesses, in any number of processes, checks at most the limit.
        """
        username = sign_in_username(username)
        check_field(password, "password")
        if not username or not password:
            raise InvalidInput("Enter your username and your password.")
        client = (client or "")[:MAX_CLIENT_CHARS]
        attempt = self._reserve_attempt(username, client, now or utcnow())
        user = None
        try:
            user = self.authenticate(username, password)
        finally:
            self._settle_attempt(attempt, username, client, succeeded=user is not None)
        if user is None:
            pause = self.login_pause(username, client=client)
            message = "Wrong username or password."
            if pause:
                message += f" Sign-in for this username is paused for {pause_minutes(pause)} minutes."
            raise AuthError(message)
        return user

    def _reserve_attempt(self, username: str, client: str, now: datetime) -> int:
        with self.sessions.begin() as session:
            serialise(session, f"sign-in:{username}")
            # Rows older than a window plus a pause can no longer start or extend one.
            session.execute(delete(LoginFailure).where(LoginFailure.at < now - LOGIN_WINDOW - LOGIN_PAUSE))
            pause = _pause_now(session, username, client, now)
            if pause:
                # Refused before the password is looked at, and not counted: the pause cannot be stretched.
                raise AuthError(f"Too many failed sign-ins for this username. Try again in {pause_minutes(pause)} "
                                "minutes.")
            attempt = LoginFailure(username=username, client=client, at=now, in_flight=True)
            session.add(attempt)
            session.flush()
            return attempt.id

    def _settle_attempt(self, attempt: int, username: str, client: str, *, succeeded: bool) -> None:
        with self.sessions.begin() as session:
            if succeeded:  # a success forgets this client's settled failures; attempts still in flight stay counted
                session.execute(delete(LoginFailure).where(
                    LoginFailure.username == username, LoginFailure.client == client,
                    (LoginFailure.id == attempt) | LoginFailure.in_flight.is_(False)))
            else:
                session.execute(update(LoginFailure).where(LoginFailure.id == attempt).values(in_flight=False))

    def login_pause(self, username: str, now: datetime | None = None, client: str = "") -> timedelta | None:
        """How long this username must still wait (from this client) before another attempt, or None."""
        with self.sessions() as session:
            return _pause_now(session, _throttle_key(username), client[:MAX_CLIENT_CHARS], now or utcnow())

    def record_login_failure(self, username: str, now: datetime | None = None, client: str = "") -> timedelta | None:
        """Count a failed attempt (and forget old ones). Returns the pause it started, if any."""
        now = now or utcnow()
        with self.sessions.begin() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.at < now - LOGIN_WINDOW - LOGIN_PAUSE))
            session.add(LoginFailure(username=_throttle_key(username), client=client, at=now, in_flight=False))
        return self.login_pause(username, now, client)

    def clear_login_failures(self, username: str) -> None:
        with self.sessions.begin() as session:
            session.execute(delete(LoginFailure).where(LoginFailure.username == _throttle_key(username)))


def pause_minutes(pause: timedelta) -> int:
    return max(1, math.ceil(pause.total_seconds() / 60))


def _pause(times: Sequence[datetime], limit: int, now: datetime) -> timedelta | None:
    if len(times) < limit or times[0] - times[-1] > LOGIN_WINDOW:
        return None
    remaining = times[0] + LOGIN_PAUSE - now
    return remaining if remaining > timedelta(0) else None


def _pause_now(session: Session, username: str, client: str, now: datetime) -> timedelta | None:
    """The pause in force for a username from a client: its own failures, or everyone's past the higher cap."""
    mine = session.scalars(
        select(LoginFailure.at).where(LoginFailure.username == username, LoginFailure.client == client)
        .order_by(LoginFailure.at.desc()).limit(LOGIN_FAILURE_LIMIT)
    ).all()
    everyone = session.scalars(
        select(LoginFailure.at).where(LoginFailure.username == username)
        .order_by(LoginFailure.at.desc()).limit(LOGIN_FAILURE_LIMIT_ALL_CLIENTS)
    ).all()
    return _pause(mine, LOGIN_FAILURE_LIMIT, now) or _pause(everyone, LOGIN_FAILURE_LIMIT_ALL_CLIENTS, now)


# -- the cookie key --------------------------------------------------------------------------------------------------
def cookie_key(settings: Settings) -> str:
    """The key that signs sign-in cookies: the setting (AKARI_COOKIE_KEY, or cookie_key in secrets.toml), else a key
    generated once under the data dir. Never a well-known default: whoever knows the key can forge any user's cookie."""
    key = (settings.cookie_key or "").strip()
    if key:
        problem = cookie_key_problem(key)
        if problem:
            raise ConfigError(
                f"The cookie key (cookie_key in .streamlit/secrets.toml or AKARI_COOKIE_KEY) {problem}. It must be "
                f"at least {MIN_COOKIE_KEY_CHARS} characters of random text. Make one with: "
                f'python -c "import secrets; print(secrets.token_urlsafe(48))"',
                detail=f"weak cookie key: {problem}",
            )
        return key
    return _key_file(settings.data_dir / COOKIE_KEY_FILE)


def cookie_key_problem(key: str) -> str | None:
    """Why a configured key is too weak to sign anyone in with, or None. Random text of this length has dozens of
    distinct characters and no repeated block; "a" * 32 or "some_key" * 4 have neither."""
    if len(key) < MIN_COOKIE_KEY_CHARS:
        return f"is only {len(key)} characters long"
    if len(set(key)) < MIN_COOKIE_KEY_DISTINCT_CHARS:
        return f"uses only {len(set(key))} different characters"
    for size in range(1, len(key) // 2 + 1):
        if len(key) % size == 0 and key == key[:size] * (len(key) // size):
            return "is one short pattern repeated"
    return None


def _key_file(path: Path) -> str:
    """Read the key file, or create it owner-only. A new key is written aside and linked into place, so nobody reads
    half a key and two processes starting together end up with the same one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            existing: str | None = path.read_text().strip()
        except FileNotFoundError:
            existing = None
        if existing and len(existing) >= MIN_COOKIE_KEY_CHARS:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
            return existing
        key = secrets.token_urlsafe(32)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            if existing is None:
                os.link(tmp, path)  # refuses if another process got there first: then use theirs
            else:
                os.replace(tmp, path)  # an empty or cut-short file is useless: replace it
        except FileExistsError:
            continue
        finally:
            tmp.unlink(missing_ok=True)
        return key
