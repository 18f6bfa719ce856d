"""Invitations: single-use or N-use, expiring, bound to an email when made for one, and never over-used."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from datetime import timedelta

import bcrypt
import pytest

from akari.accounts import Accounts
from akari.db import migrate
from akari.db.engine import make_engine, make_session_factory
from akari.db.models import utcnow
from akari.errors import AuthError, InvalidInput
from akari.invitations import DEFAULT_DAYS, Invitations
from akari.roles import ADMIN

PASSWORD = "correct horse battery"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture
def db(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Accounts, Invitations, int]]:
    monkeypatch.setenv("AKARI_BCRYPT_ROUNDS", "4")
    engine = make_engine(database_url, connections=20)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    accounts = Accounts(sessions, bcrypt_rounds=4)
    root = accounts.create_user("root", PASSWORD, roles=(ADMIN,))
    yield accounts, Invitations(sessions), root.id
    engine.dispose()


def _register(accounts: Accounts, username: str, email: str, token: str | None):
    return accounts.register(username, name="", email=email, password_hash=HASH, invitation=token)


def test_an_invitation_for_one_email_serves_that_email_once(db) -> None:
    accounts, invitations, root = db
    invitation, token = invitations.create(root, email="Ana@Example.org")
    assert invitation.email == "ana@example.org" and invitation.uses_left == 1
    with pytest.raises(AuthError, match="another email"):
        _register(accounts, "eve", "eve@example.org", token)
    assert _register(accounts, "ana", "ana@example.org", token).username == "ana"
    with pytest.raises(AuthError, match="used up"):
        _register(accounts, "ana2", "ana@example.org", token)
    assert invitations.find(token) is None


def test_an_n_use_invitation_under_a_burst_makes_exactly_n_accounts(db) -> None:
    accounts, invitations, root = db
    _, token = invitations.create(root, uses=3)
    barrier = threading.Barrier(8)
    made: list[str] = []

    def register(i: int) -> None:
        barrier.wait()
        with contextlib.suppress(AuthError):
            made.append(_register(accounts, f"team{i}", f"team{i}@example.com", token).username)

    threads = [threading.Thread(target=register, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 3 and invitations.find(token) is None


def test_an_invitation_expires_and_can_be_withdrawn(db) -> None:
    accounts, invitations, root = db
    _, token = invitations.create(root, uses=5)
    assert invitations.find(token, now=utcnow() + timedelta(days=DEFAULT_DAYS, seconds=1)) is None
    invitation, other = invitations.create(root, uses=5)
    invitations.withdraw(invitation.id)
    with pytest.raises(AuthError, match="withdrawn"):
        _register(accounts, "late", "late@example.com", other)
    with pytest.raises(AuthError, match="used up"):
        _register(accounts, "forged", "forged@example.com", "not-a-real-token")


def test_an_invitation_for_one_email_cannot_have_many_uses(db) -> None:
    _, invitations, root = db
    with pytest.raises(InvalidInput, match="used once"):
        invitations.create(root, email="ana@example.org", uses=3)
    with pytest.raises(InvalidInput, match="1 to 90 days"):
        invitations.create(root, days=365)
