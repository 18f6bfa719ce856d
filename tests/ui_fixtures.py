"""Fixtures and helpers for AppTest: a clean Streamlit per test, accounts in the test's database, signing in.

Register with `pytest_plugins = [..., "tests.ui_fixtures"]` in conftest.py (or wrap `reset_streamlit` and
`open_accounts` in a test module's own fixtures).
Sign a user in through the real form with `sign_in(at, "alice", PASSWORD)`; to test a page's own logic cheaply,
start a real session with `seed_session(at, "alice")` before `run()`: the guard still checks it in the database
on every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from akari import runtime
from akari.accounts import Accounts
from akari.config import load_settings
from akari.db import migrate
from akari.db.engine import make_engine, make_session_factory
from akari.roles import ADMIN, MEMBER
from akari.signins import SignIns
from akari.studio import Studio
from ui.signin import SESSION_ID

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"  # meets the password rule; hashed with 4 bcrypt rounds in tests
TEST_COOKIE_KEY = "tEsT-k3y_Qw9Zr2Lp7Xm4Vb8Nc1Hd6Jf0Gs5Ka"


def reset_streamlit(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Studio]]:
    """Caches and the pages-folder flag are process-wide: each test starts without the last one's Studio or mode,
    and every Studio a page opened is closed afterwards (its workers and database connections)."""
    monkeypatch.setenv("AKARI_BCRYPT_ROUNDS", "4")  # 4 rounds: ~1 ms a hash instead of ~240 ms
    opened: list[Studio] = []
    real_open = Studio.open.__func__  # type: ignore[attr-defined]

    def recording_open(cls: type[Studio], *args: object, **kwargs: object) -> Studio:
        studio = real_open(cls, *args, **kwargs)
        opened.append(studio)
        return studio

    monkeypatch.setattr(Studio, "open", classmethod(recording_open))
    runtime.close_studio()
    st.cache_data.clear()
    st.cache_resource.clear()
    PagesManager.uses_pages_directory = None
    yield opened
    runtime.close_studio()
    st.cache_data.clear()
    st.cache_resource.clear()
    PagesManager.uses_pages_directory = None
    for studio in opened:
        studio.close()


def studio_with_member(username: str = "ada", password: str = PASSWORD, name: str = "Ada Lovelace") -> Studio:
    """A studio on the test's settings with one member; the page under test opens its own on the same database."""
    opened = Studio.open()
    opened.accounts.create_user(username, password, name=name)
    return opened


def open_accounts() -> Iterator[Accounts]:
    """Accounts on the database the app under test will open (AKARI_DATA_DIR is per test)."""
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    yield Accounts(make_session_factory(engine), bcrypt_rounds=4)
    engine.dispose()


@pytest.fixture(autouse=True)
def fresh_streamlit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from reset_streamlit(monkeypatch)


@pytest.fixture
def accounts() -> Iterator[Accounts]:
    yield from open_accounts()


def add_user(accounts: Accounts, username: str, *, admin: bool = False, password: str = PASSWORD, **extra: object):
    return accounts.create_user(username, password, roles=(ADMIN,) if admin else (MEMBER,), **extra)  # type: ignore[arg-type]


def app(script: str = "app.py") -> AppTest:
    """An AppTest of a file under the repository root, with secrets of its own: Streamlit never reads a developer's
    .streamlit/secrets.toml (which could hold real credentials); the settings ignore it too (AKARI_SECRETS_FILE)."""
    at = AppTest.from_file(str(ROOT / script), default_timeout=30)
    at.secrets["cookie_key"] = TEST_COOKIE_KEY
    return at


def sign_in(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    """Fill and submit the sign-in form of an AppTest that has run once; returns it after the submit's run."""
    at.text_input(key="signin_username").input(username)
    at.text_input(key="signin_password").input(password)
    return at.button(key="signin_submit").click().run()


def seed_session(at: AppTest, username: str) -> int:
    """Start a real sign-in session for `username` in the test's database and give it to the AppTest's tab."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        migrate.upgrade(engine)
        sessions = make_session_factory(engine)
        started = SignIns(sessions).start(Accounts(sessions, bcrypt_rounds=4).get(username).id, "AppTest")
    finally:
        engine.dispose()
    at.session_state[SESSION_ID] = started.id
    return started.id


def signed_in(at: AppTest) -> bool:
    return SESSION_ID in at.session_state
