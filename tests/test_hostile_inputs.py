"""Every input a visitor controls gets a sentence, never a traceback, and never reaches the database malformed:
on SQLite and on PostgreSQL, through the real pages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from akari.accounts import Accounts
from akari.db.models import LoginFailure, User
from akari.errors import InvalidInput
from akari.inputs import MAX_RECORD_ID, record_id, search_text
from akari.studio import Studio
from tests.ui_fixtures import PASSWORD, add_user, app, reset_streamlit, seed_session, sign_in
from ui.gallery_view import SEARCH_KEY

HOSTILE_IDS = ["99999999999999999999", str(MAX_RECORD_ID + 1), "-1", "0", "1e5", "abc", "", "٣", "0x10",
               "1" * 400]
HOSTILE_SEARCHES = ["\x00", "light\x00house", "' OR 1=1 --", '"', '"unclosed', "*", "a:*", "!x & y | z", "NEAR(a b)",
                    "\\", "%_%", "\u202eevil", "x" * 5000, "-- ;DROP TABLE users;"]
CONTROL = ["ali\x00ce", "alice\x1b[31m", "al\u202eice", "bob\x07"]


@pytest.fixture(autouse=True)
def _fresh_streamlit(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Studio]]:
    yield from reset_streamlit(monkeypatch)


@pytest.fixture
def studio(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """The pages open their own studio on this database: SQLite, then PostgreSQL."""
    monkeypatch.setenv("AKARI_DATABASE_URL", database_url)
    monkeypatch.setenv("AKARI_WORKERS", "0")
    opened = Studio.open()
    yield opened
    opened.close()


def _no_traceback(at: AppTest) -> None:
    assert not at.exception, at.exception


def _failures(accounts: Accounts) -> int:
    with accounts.sessions() as session:
        return session.scalar(select(func.count(LoginFailure.id)))


# -- the rules ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", HOSTILE_IDS)
def test_an_id_out_of_range_or_not_a_number_is_refused_in_words(raw: str) -> None:
    with pytest.raises(InvalidInput, match="does not point to an image"):
        record_id(raw)


def test_ids_in_range_pass() -> None:
    assert record_id("1") == 1 and record_id(str(MAX_RECORD_ID)) == MAX_RECORD_ID and record_id(42) == 42


def test_search_text_drops_control_characters_and_is_cut_short() -> None:
    assert search_text("light\x00house") == "light house"
    assert len(search_text("x" * 5000)) == 200


# -- through the pages, on both databases ----------------------------------------------------------------------------
@pytest.mark.parametrize("username", CONTROL)
def test_control_characters_in_the_sign_in_form_get_a_sentence(studio: Studio, username: str) -> None:
    add_user(studio.accounts, "alice")
    at = app("pages/account.py").run()
    sign_in(at, username, PASSWORD)
    _no_traceback(at)
    assert "control characters" in at.error[0].value and "Your account" not in [t.value for t in at.title]
    sign_in(at, "alice", "correct\x00horse battery")
    _no_traceback(at)
    assert "control characters" in at.error[0].value
    assert _failures(studio.accounts) == 0  # refused before the database was asked anything


def test_an_overlong_sign_in_username_gets_a_sentence(studio: Studio) -> None:
    add_user(studio.accounts, "alice")
    at = app("pages/account.py").run()
    sign_in(at, "a" * 10_000, PASSWORD)
    _no_traceback(at)
    assert "too long" in at.error[0].value


@pytest.mark.parametrize("field", ["first_admin_username", "first_admin_name", "first_admin_email",
                                   "first_admin_password"])
def test_control_characters_in_the_first_admin_form_get_a_sentence(studio: Studio, field: str) -> None:
    at = app("pages/account.py").run()
    values = {"first_admin_username": "root", "first_admin_name": "Root", "first_admin_email": "root@example.com",
              "first_admin_password": PASSWORD}
    values[field] = values[field][:2] + "\x00" + values[field][2:]
    for key, value in values.items():
        at.text_input(key=key).input(value)
    at.text_input(key="first_admin_repeat").input(values["first_admin_password"])
    at.button(key="first_admin_submit").click().run()
    _no_traceback(at)
    assert "control characters" in at.error[0].value
    assert studio.accounts.is_first_run()


@pytest.mark.parametrize("label", ["Your name", "Your email", "Choose a username", "Choose a password"])
def test_control_characters_in_the_registration_form_get_a_sentence(studio: Studio, label: str) -> None:
    add_user(studio.accounts, "root", admin=True)
    studio.accounts.set_registration("open")
    at = app("pages/account.py").run()
    values = {"Your name": "New Person", "Your email": "new@example.com", "Choose a username": "newbie",
              "Choose a password": PASSWORD}
    values[label] = values[label][:2] + "\x00" + values[label][2:]
    inputs = {t.label: t for t in at.text_input}
    for name, value in values.items():
        inputs[name].input(value)
    inputs["Repeat the chosen password"].input(values["Choose a password"])
    next(b for b in at.button if b.label == "Create my account").click().run()
    _no_traceback(at)
    assert "control characters" in at.error[0].value
    with studio.accounts.sessions() as session:
        assert session.scalar(select(func.count(User.id))) == 1


def _gallery(username: str, **query: str) -> AppTest:
    at = app("app.py")
    seed_session(at, username)
    at.run()
    at.switch_page("pages/gallery.py")
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


@pytest.mark.parametrize("raw", ["99999999999999999999", str(MAX_RECORD_ID + 1), "-1", "abc"])
def test_a_gallery_link_with_a_hostile_id_shows_a_sentence(studio: Studio, raw: str) -> None:
    add_user(studio.accounts, "alice")
    at = _gallery("alice", id=raw)
    _no_traceback(at)
    assert any("does not point to an image" in w.value for w in at.warning)


def test_hostile_search_strings_find_nothing_and_never_fail(studio: Studio) -> None:
    add_user(studio.accounts, "alice")
    at = _gallery("alice")
    for text in HOSTILE_SEARCHES:
        at.text_input(key=SEARCH_KEY).input(text).run()
        _no_traceback(at)
