"""Sign-in sessions: hashed at rest, one-time tickets, ended at once by every event that must end them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from akari import runtime
from akari.accounts import Accounts
from akari.db import migrate
from akari.db.engine import make_engine, make_session_factory
from akari.db.models import SignInSession, utcnow
from akari.errors import PermissionDenied
from akari.roles import ADMIN
from akari.signins import SESSION_LIFETIME, TICKET_LIFETIME, SignIns
from akari.web.signin import COOKIE_NAME, SESSION_ROUTE, SIGNOUT_ROUTE, session_routes

PASSWORD = "correct horse battery"
KEY = "a-test-key-" + "Zq8#" * 10


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKARI_BCRYPT_ROUNDS", "4")


@pytest.fixture
def db(database_url: str) -> Iterator[tuple[Accounts, SignIns]]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    accounts = Accounts(sessions, bcrypt_rounds=4)
    accounts.create_user("root", PASSWORD, roles=(ADMIN,))
    accounts.create_user("alice", PASSWORD)
    yield accounts, SignIns(sessions, KEY)
    engine.dispose()


def _signed_in(accounts: Accounts, signins: SignIns, username: str = "alice") -> tuple[int, str]:
    started = signins.start(accounts.get(username).id, "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
    token = signins.redeem(started.ticket)
    assert token is not None
    return started.id, token


def test_a_ticket_gives_one_cookie_once(db: tuple[Accounts, SignIns]) -> None:
    accounts, signins = db
    started = signins.start(accounts.get("alice").id)
    token = signins.redeem(started.ticket)
    assert token and signins.find(token)[1].username == "alice"
    assert signins.redeem(started.ticket) is None


def test_a_ticket_expires_within_a_minute(db: tuple[Accounts, SignIns]) -> None:
    accounts, signins = db
    started = signins.start(accounts.get("alice").id)
    assert signins.redeem(started.ticket, now=utcnow() + TICKET_LIFETIME + timedelta(seconds=1)) is None


def test_only_hashes_are_kept_in_the_database(db: tuple[Accounts, SignIns]) -> None:
    accounts, signins = db
    started = signins.start(accounts.get("alice").id)
    with accounts.sessions() as session:
        assert session.scalar(select(SignInSession.ticket_hash)) != started.ticket
    session_id, token = started.id, signins.redeem(started.ticket)
    with accounts.sessions() as session:
        row = session.get(SignInSession, session_id)
        assert row.token_hash and token not in (row.token_hash, row.ticket_hash)
    assert SignIns(accounts.sessions, "another key entirely").find(token) is None  # the key is part of the hash


def test_a_session_expires_after_its_lifetime(db: tuple[Accounts, SignIns]) -> None:
    accounts, signins = db
    session_id, token = _signed_in(accounts, signins)
    later = utcnow() + SESSION_LIFETIME + timedelta(seconds=1)
    assert signins.user(session_id, now=later) is None and signins.find(token, now=later) is None


def test_log_out_ends_that_session_only(db: tuple[Accounts, SignIns]) -> None:
    accounts, signins = db
    first, token = _signed_in(accounts, signins)
    second, _ = _signed_in(accounts, signins)
    assert signins.end(first)
    assert signins.find(token) is None and signins.user(second) is not None


def test_a_password_change_ends_every_other_session(db: tuple[Accounts, SignIns]) -> None:
    accounts, signins = db
    mine, _ = _signed_in(accounts, signins)
    _stolen, token = _signed_in(accounts, signins)
    accounts.change_password("alice", PASSWORD, "a brand new passphrase", keep_session=mine)
    assert signins.find(token) is None and signins.user(mine) is not None


def test_an_admin_reset_disable_and_sign_out_end_every_session(db: tuple[Accounts, SignIns]) -> None:
    accounts, signins = db
    for end in (lambda: accounts.set_password("alice", "a reset passphrase"),
                lambda: accounts.set_enabled("alice", False, acting="root"),
                lambda: accounts.update("alice", enabled=False, roles=["member"], daily_quota=None, acting="root"),
                lambda: accounts.sign_out_everywhere("alice")):
        accounts.set_enabled("alice", True)
        session_id, token = _signed_in(accounts, signins)
        end()
        accounts.set_enabled("alice", True)  # enabling again does not bring a session back
        assert signins.find(token) is None and signins.user(session_id) is None


def test_a_recreated_username_inherits_no_session(db: tuple[Accounts, SignIns]) -> None:
    accounts, signins = db
    session_id, token = _signed_in(accounts, signins)
    accounts.delete("alice", acting="root")
    accounts.create_user("alice", PASSWORD)
    assert signins.find(token) is None and signins.user(session_id) is None
    with accounts.sessions() as session:
        assert session.scalar(select(SignInSession.id)) is None


def test_the_only_admin_cannot_be_deleted(db: tuple[Accounts, SignIns]) -> None:
    accounts, _ = db
    with pytest.raises(PermissionDenied, match="only administrator"):
        accounts.delete("root")


def test_revoking_from_the_list_ends_only_ones_own_sessions(db: tuple[Accounts, SignIns]) -> None:
    accounts, signins = db
    alices, _ = _signed_in(accounts, signins, "alice")
    roots, _ = _signed_in(accounts, signins, "root")
    assert not signins.end(roots, user_id=accounts.get("alice").id)
    assert signins.user(roots) is not None
    assert [s.id for s in signins.list_for(accounts.get("alice").id)] == [alices]


# -- the cookie routes -----------------------------------------------------------------------------------------------
@pytest.fixture
def routes(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Route]]:
    monkeypatch.setenv("AKARI_WORKERS", "0")
    monkeypatch.setenv("AKARI_BEHIND_TLS", "true")
    runtime.close_studio()
    runtime.open_studio().accounts.create_user("alice", PASSWORD)
    yield {route.path: route for route in session_routes()}
    runtime.close_studio()


def _post(route: Route, body: str = "", cookie: str = "", origin: str | None = "https://akari.test") -> Response:
    """The route's endpoint called with a real Starlette request, as the server would."""
    headers = [(b"content-type", b"application/x-www-form-urlencoded"), (b"cookie", cookie.encode()),
               (b"host", b"akari.test")]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    scope = {"type": "http", "method": "POST", "path": route.path, "query_string": b"", "headers": headers}

    async def receive() -> dict:
        return {"type": "http.request", "body": body.encode(), "more_body": False}

    # A thread of its own: another test in this process (the browser suite) may have an event loop running here.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, route.endpoint(Request(scope, receive))).result()


def _set_cookie(response: Response) -> tuple[str, set[str]]:
    header = response.headers["set-cookie"]
    value = header.split(";")[0].split("=", 1)[1]
    return value, {part.strip().lower() for part in header.split(";")[1:]}


def test_the_cookie_is_httponly_strict_and_secure_behind_tls(routes: dict[str, Route]) -> None:
    studio = runtime.open_studio()
    started = studio.signins.start(studio.accounts.get("alice").id)
    response = _post(routes[SESSION_ROUTE], urlencode({"ticket": started.ticket}))
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    token, flags = _set_cookie(response)
    assert {"httponly", "samesite=strict", "secure", "path=/"} <= flags
    assert studio.signins.find(token)[1].username == "alice"
    assert _post(routes[SESSION_ROUTE], urlencode({"ticket": started.ticket})).status_code == 403  # used up
    signed_out = _post(routes[SIGNOUT_ROUTE], cookie=f"{COOKIE_NAME}={token}")
    assert "max-age=0" in signed_out.headers["set-cookie"].lower() and studio.signins.find(token) is None


def test_a_made_up_ticket_gets_no_cookie(routes: dict[str, Route]) -> None:
    response = _post(routes[SESSION_ROUTE], urlencode({"ticket": "x" * 43}))
    assert response.status_code == 403 and "set-cookie" not in response.headers


@pytest.mark.parametrize("origin", ["https://evil.example", None])
def test_a_ticket_posted_from_another_site_gets_no_cookie(routes: dict[str, Route], origin: str | None) -> None:
    studio = runtime.open_studio()
    started = studio.signins.start(studio.accounts.get("alice").id)
    response = _post(routes[SESSION_ROUTE], urlencode({"ticket": started.ticket}), origin=origin)
    assert response.status_code == 403 and "set-cookie" not in response.headers
    assert _post(routes[SESSION_ROUTE], urlencode({"ticket": started.ticket})).status_code == 200  # still unused
