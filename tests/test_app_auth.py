"""Sign-in, first run, registration, logout, throttling and the gate on every page, through Streamlit's AppTest."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from streamlit.testing.v1 import AppTest

from akari.accounts import Accounts, password_matches
from akari.db.models import LoginFailure, User
from akari.invitations import Invitations
from akari.quota import Quotas
from akari.roles import ADMIN, MEMBER
from tests.ui_fixtures import (
    PASSWORD,
    ROOT,
    add_user,
    app,
    open_accounts,
    reset_streamlit,
    seed_session,
    sign_in,
    signed_in,
)
from ui.signin import SESSION_ID

PAGE_FILES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))
APP_PAGES = ("generate", "gallery", "usage", "account", "admin")
SIGN_IN_KEYS = {"signin_username", "signin_password", "signin_submit"}
FIRST_RUN_KEYS = {"first_admin_username", "first_admin_name", "first_admin_email", "first_admin_password",
                  "first_admin_repeat", "first_admin_submit"}
COOKIE_WIDGETS = {"init", "set", "delete"}  # the authenticator's cookie component, invisible
# What a signed-out visitor may see: titles, text, messages and the sign-in or first-run form; nothing of a page.
VISITOR_ELEMENTS = {"title", "markdown", "caption", "warning", "info", "success", "error", "form", "text_input",
                    "button", "component_instance", "flex_container", "column"}


@pytest.fixture(autouse=True)
def _fresh_streamlit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    yield from reset_streamlit(monkeypatch)


@pytest.fixture
def accounts() -> Iterator[Accounts]:
    yield from open_accounts()


def _elements(node) -> list:
    found = []
    for child in getattr(node, "children", {}).values():
        found.append(child)
        found.extend(_elements(child))
    return found


def _keys(at: AppTest) -> set[str]:
    """The keys of the widgets on the main area (forms carry a key too, but are containers)."""
    return {e.key for e in _elements(at.main) if getattr(e, "key", None) and e.type != "form"} - COOKIE_WIDGETS


def _texts(elements) -> list[str]:
    """Messages as the reader sees them (the app escapes Markdown in text it did not write)."""
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def _sign_in_page(at: AppTest, username: str, password: str = PASSWORD) -> AppTest:
    at.run()
    return sign_in(at, username, password)


# -- first run -------------------------------------------------------------------------------------------------------
def test_the_first_visit_creates_the_administrator_then_asks_to_sign_in(accounts: Accounts) -> None:
    at = app("pages/account.py").run()
    assert _keys(at) == FIRST_RUN_KEYS
    at.text_input(key="first_admin_username").input("Root")
    at.text_input(key="first_admin_password").input(PASSWORD)
    at.text_input(key="first_admin_repeat").input("something else entirely")
    at.button(key="first_admin_submit").click().run()
    assert _texts(at.error) == ["The two passwords differ."] and accounts.is_first_run()
    at.text_input(key="first_admin_name").input("Ada *Admin*")
    at.text_input(key="first_admin_password").input("short")
    at.text_input(key="first_admin_repeat").input("short")
    at.button(key="first_admin_submit").click().run()
    assert "at least 10 characters" in at.error[0].value and accounts.is_first_run()
    at.text_input(key="first_admin_password").input(PASSWORD)
    at.text_input(key="first_admin_repeat").input(PASSWORD)
    at.button(key="first_admin_submit").click().run()
    assert _texts(at.success) == ["The administrator account is ready: sign in with it."]
    assert _keys(at) == SIGN_IN_KEYS and at.text_input(key="signin_username").value == "root"
    assert accounts.current_user("root").is_admin
    sign_in(at, "root")
    assert signed_in(at)
    assert _texts(at.sidebar.text) == ["Ada *Admin*"]  # shown as written, not as Markdown


def test_once_someone_can_sign_in_there_is_no_first_run_form(accounts: Accounts) -> None:
    add_user(accounts, "root", admin=True)
    at = app("pages/account.py").run()
    assert _keys(at) == SIGN_IN_KEYS


# -- signing in ------------------------------------------------------------------------------------------------------
def test_signing_in_shows_the_page_with_name_role_and_logout(accounts: Accounts) -> None:
    add_user(accounts, "alice", name="Alice Liddell")
    at = _sign_in_page(app("pages/account.py"), "  Alice ")
    assert not at.exception and signed_in(at)
    assert _texts(at.title) == ["Your account"]
    assert _texts(at.sidebar.text) == ["Alice Liddell"] and "Member" in at.sidebar.caption[0].value
    assert at.sidebar.button(key="sidebar_logout")
    assert at.run().title[0].value == "Your account"  # still signed in on the next run


def test_a_wrong_password_and_an_unknown_user_read_the_same(accounts: Accounts) -> None:
    add_user(accounts, "alice")
    at = _sign_in_page(app("pages/account.py"), "alice", "not the password")
    assert _texts(at.error) == ["Wrong username or password."] and not signed_in(at)
    sign_in(at, "nobody", PASSWORD)
    assert _texts(at.error) == ["Wrong username or password."] and not signed_in(at)
    sign_in(at, "alice", "")
    assert _texts(at.error) == ["Enter your username and your password."]


def test_five_failures_pause_that_username_and_the_pause_is_not_stretched(accounts: Accounts) -> None:
    add_user(accounts, "alice")
    add_user(accounts, "bob")
    at = app("pages/account.py").run()
    for _ in range(4):
        sign_in(at, "alice", "a wrong guess")
        assert _texts(at.error) == ["Wrong username or password."]
    sign_in(at, "alice", "a wrong guess")
    assert _texts(at.error) == ["Wrong username or password. Sign-in for this username is paused for 15 minutes."]
    sign_in(at, "alice", PASSWORD)  # even the right password waits
    assert not signed_in(at)
    assert _texts(at.error)[0].startswith("Too many failed sign-ins for this username. Try again in")
    with accounts.sessions() as session:
        assert session.scalar(select(func.count(LoginFailure.id))) == 5  # attempts during the pause are not counted
    sign_in(at, "bob")  # other usernames are not affected
    assert signed_in(at) and "bob" in at.sidebar.caption[0].value


def test_logout_returns_to_the_sign_in_and_stays_there(accounts: Accounts) -> None:
    add_user(accounts, "alice")
    at = _sign_in_page(app("pages/account.py"), "alice")
    at.sidebar.button(key="sidebar_logout").click().run()
    assert not signed_in(at) and _keys(at) == SIGN_IN_KEYS
    assert _texts(at.main.info) == ["You are signed out."]
    assert _keys(at.run()) == SIGN_IN_KEYS


# -- the gate on every page ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("first_run", [True, False], ids=["first-run", "with-accounts"])
@pytest.mark.parametrize("page_file", PAGE_FILES)
def test_every_page_file_run_directly_while_signed_out_shows_only_the_sign_in(
    accounts: Accounts, page_file: str, first_run: bool
) -> None:
    if not first_run:
        add_user(accounts, "root", admin=True)
    at = app(page_file).run()
    assert not at.exception
    assert _keys(at) == (FIRST_RUN_KEYS if first_run else SIGN_IN_KEYS)
    assert {e.type for e in _elements(at.main)} <= VISITOR_ELEMENTS
    assert not _elements(at.sidebar)


def test_the_admin_page_refuses_a_member(accounts: Accounts) -> None:
    add_user(accounts, "alice")
    at = _sign_in_page(app("pages/admin.py"), "alice")
    assert signed_in(at)
    assert _texts(at.error) == ["Only administrators can open this page. Ask an administrator if you need "
                                "something changed."]
    assert not at.title and not at.dataframe and _keys(at) == set()
    assert at.sidebar.button(key="sidebar_logout")


def test_a_disabled_users_session_ends_at_their_next_run(accounts: Accounts) -> None:
    add_user(accounts, "root", admin=True)
    add_user(accounts, "alice")
    at = _sign_in_page(app("pages/account.py"), "alice")
    assert signed_in(at)
    accounts.set_enabled("alice", False, acting="root")
    at.run()
    assert not signed_in(at) and _keys(at) == SIGN_IN_KEYS
    assert "signed out" in at.warning[0].value
    sign_in(at, "alice")
    assert not signed_in(at) and _texts(at.error) == ["Wrong username or password."]


def test_a_revoked_admin_loses_the_admin_page_at_their_next_run(accounts: Accounts) -> None:
    add_user(accounts, "root", admin=True)
    add_user(accounts, "deputy", admin=True)
    at = _sign_in_page(app("pages/admin.py"), "deputy")
    assert _texts(at.title) == ["Admin"]
    accounts.update("deputy", enabled=True, roles=[MEMBER], daily_quota=None, acting="root")
    at.run()
    assert at.error[0].value.startswith("Only administrators") and not at.title


def test_a_seeded_session_is_still_checked_against_the_database(accounts: Accounts) -> None:
    """The cheap way for other pages' tests to be signed in; the guard still re-reads the account."""
    add_user(accounts, "alice")
    at = app("pages/account.py")
    seed_session(at, "alice")
    assert at.run().title[0].value == "Your account"
    at = app("pages/account.py")
    at.session_state[SESSION_ID] = 424242  # no such session in the database
    assert _keys(at.run()) == SIGN_IN_KEYS


# -- registration ----------------------------------------------------------------------------------------------------
def _register(at: AppTest, *, username: str, email: str, password: str = PASSWORD) -> AppTest:
    fields = {t.label: t for t in at.text_input}
    fields["Your name"].input("New")
    fields["Your email"].input(email)
    fields["Choose a username"].input(username)
    fields["Choose a password"].input(password)
    fields["Repeat the chosen password"].input(password)
    return next(b for b in at.button if b.label == "Create my account").click().run()


def test_registration_is_hidden_while_closed(accounts: Accounts) -> None:
    add_user(accounts, "root", admin=True)
    at = app("pages/account.py").run()
    assert not at.tabs and not [b for b in at.button if b.label == "Create my account"]


def test_open_registration_creates_a_member_who_can_sign_in(accounts: Accounts) -> None:
    add_user(accounts, "root", admin=True)
    accounts.set_registration("open")
    at = app("pages/account.py").run()
    _register(at, username="newbie", email="newbie@example.com", password="short")
    assert "at least 10 characters" in at.error[0].value and accounts.current_user("newbie") is None
    _register(at, username="Newbie", email="newbie@example.com")
    assert _texts(at.success) == ["Your account is ready: sign in with it."]
    user = accounts.current_user("newbie")
    assert user is not None and user.roles == (MEMBER,)
    sign_in(at, "newbie")
    assert signed_in(at)


def test_an_allowlisted_domain_alone_offers_no_registration(accounts: Accounts) -> None:
    add_user(accounts, "root", admin=True)
    accounts.set_registration("allowlist", ["@allowed.com"])
    at = app("pages/account.py").run()
    assert not at.tabs and not [b for b in at.button if b.label == "Create my account"]


def test_an_invitation_link_for_one_email_registers_that_email_once(accounts: Accounts) -> None:
    root = add_user(accounts, "root", admin=True)
    invitations = Invitations(accounts.sessions)
    _, token = invitations.create(root.id, email="ana@example.org")
    at = app("pages/account.py")
    at.query_params["invite"] = token
    at.run()
    assert any("You were invited as ana@example.org" in c.value.replace("\\", "") for c in at.caption)
    _register(at, username="eve", email="eve@example.org")
    assert "for another email address" in at.error[0].value and accounts.current_user("eve") is None
    _register(at, username="ana", email="ana@example.org")
    assert accounts.current_user("ana") is not None
    again = app("pages/account.py")
    again.query_params["invite"] = token
    again.run()
    assert "used up, expired or was withdrawn" in again.warning[0].value.replace("\\", "")
    assert not [b for b in again.button if b.label == "Create my account"]


# -- the account page ------------------------------------------------------------------------------------------------
def test_the_account_page_changes_the_password_only_with_the_current_one(accounts: Accounts) -> None:
    add_user(accounts, "alice")
    at = _sign_in_page(app("pages/account.py"), "alice")

    def change(old: str, new: str, repeat: str | None = None) -> None:
        at.text_input(key="account_old_password").input(old)
        at.text_input(key="account_new_password").input(new)
        at.text_input(key="account_repeat_password").input(repeat if repeat is not None else new)
        at.button(key="account_change_password").click().run()

    change("not my password", "a brand new passphrase")
    assert _texts(at.error) == ["The current password is wrong."]
    change(PASSWORD, "a brand new passphrase", "a different one")
    assert _texts(at.error) == ["The two new passwords differ."]
    change(PASSWORD, "a brand new passphrase")
    assert _texts(at.success) == ["Your password is changed. Every other browser is signed out."]
    with accounts.sessions() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "alice"))
    assert password_matches("a brand new passphrase", stored) and not password_matches(PASSWORD, stored)


def test_the_account_page_saves_name_and_email(accounts: Accounts) -> None:
    add_user(accounts, "alice")
    add_user(accounts, "bob", email="bob@example.com")
    at = _sign_in_page(app("pages/account.py"), "alice")
    at.text_input(key="account_email").input("bob@example.com")
    at.button(key="account_save").click().run()
    assert _texts(at.error) == ["Another account already uses that email address."]
    at.text_input(key="account_name").input("Alice <b>Liddell</b>")
    at.text_input(key="account_email").input("alice@example.com")
    at.button(key="account_save").click().run()
    assert _texts(at.success) == ["Your name and email are saved."]
    assert _texts(at.sidebar.text) == ["Alice <b>Liddell</b>"]
    assert accounts.get("alice").email == "alice@example.com"


# -- the admin page --------------------------------------------------------------------------------------------------
def _admin(accounts: Accounts, tab: str = "Users") -> AppTest:
    add_user(accounts, "root", admin=True)
    at = _sign_in_page(app("pages/admin.py"), "root")
    return _open_tab(at, tab) if tab != "Users" else at


def _open_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["admin_tab"] = tab
    return at.run()


def test_only_the_open_admin_tab_runs(accounts: Accounts) -> None:
    at = _admin(accounts)
    assert at.text_input(key="admin_new_username") is not None
    assert not [b for b in at.button if b.key == "admin_check_generator"]
    at = _open_tab(at, "Backends")
    assert [b for b in at.button if b.key == "admin_check_generator"]
    assert not [t for t in at.text_input if t.key == "admin_new_username"]


def test_an_admin_creates_a_user_and_sees_them_listed(accounts: Accounts) -> None:
    at = _admin(accounts)
    at.text_input(key="admin_new_username").input("Carol")
    at.text_input(key="admin_new_name").input("Carol C")
    at.text_input(key="admin_new_password").input(PASSWORD)
    at.text_input(key="admin_new_repeat").input(PASSWORD)
    at.number_input(key="admin_new_quota").set_value(7)
    at.button(key="admin_new_submit").click().run()
    assert _texts(at.success) == ["Created the account carol."]
    table = at.dataframe[0].value
    carol = table[table["Username"] == "carol"].iloc[0]
    assert (carol["Role"], carol["State"], carol["Daily quota"]) == ("Member", "Enabled", "7")


def test_an_admin_disables_promotes_and_resets_a_user(accounts: Accounts) -> None:
    at = _admin(accounts)
    add_user(accounts, "alice")
    at.run()
    at.selectbox(key="admin_user").set_value("alice").run()
    at.toggle(key="admin_edit_enabled_alice").set_value(False)
    at.checkbox(key="admin_edit_admin_alice").check()
    at.button(key="admin_edit_submit_alice").click().run()
    assert _texts(at.success) == ["Saved the changes to alice."]
    account = accounts.get("alice")
    assert not account.enabled and account.roles == (ADMIN,)
    at.text_input(key="admin_reset_password_alice").input("a fresh passphrase")
    at.text_input(key="admin_reset_repeat_alice").input("a fresh passphrase")
    at.button(key="admin_reset_submit_alice").click().run()
    assert _texts(at.success)[0].startswith("The password of alice is reset")
    with accounts.sessions() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "alice"))
    assert password_matches("a fresh passphrase", stored)


def test_an_admin_cannot_disable_themselves(accounts: Accounts) -> None:
    at = _admin(accounts)
    at.toggle(key="admin_edit_enabled_root").set_value(False)
    at.button(key="admin_edit_submit_root").click().run()
    assert _texts(at.error) == ["You cannot disable your own account."]
    assert accounts.get("root").enabled


def test_an_admin_sets_registration_and_the_default_quota(accounts: Accounts) -> None:
    at = _admin(accounts, "Sign-up and quotas")
    at.radio(key="admin_registration_mode").set_value("allowlist")
    at.text_area(key="admin_registration_allowlist").input("ana@example.com\nnot an address")
    at.button(key="admin_registration_submit").click().run()
    assert "'not an address' is neither" in at.error[0].value
    at.text_area(key="admin_registration_allowlist").input("Ana@Example.com\n\n@example.org")
    at.number_input(key="admin_default_quota").set_value(25)
    at.button(key="admin_registration_submit").click().run()
    assert _texts(at.success) == ["Sign-up and quota settings saved."]
    assert accounts.registration().allowlist == ("ana@example.com", "@example.org")
    assert Quotas(accounts.sessions, 200).get_default() == 25


def test_backend_checks_and_retry_say_what_happened(accounts: Accounts) -> None:
    at = _admin(accounts, "Backends")
    at.button(key="admin_check_generator").click().run()
    assert _texts(at.success) == ["Offline renderer ready"]
    at.button(key="admin_check_store").click().run()
    assert at.success[0].value.startswith("Writable")
    assert at.metric[0].value == "0"
    at.button(key="admin_retry_uploads").click().run()
    assert _texts(at.success) == ["Uploaded 0; still waiting 0; lost 0."]
    assert _texts(_open_tab(at, "Failures").main.info) == ["No failed generations."]


# -- the entrypoint ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("page_file", [f"pages/{name}.py" for name in APP_PAGES])
def test_through_app_py_every_page_shows_only_the_sign_in_to_a_visitor(accounts: Accounts, page_file: str) -> None:
    add_user(accounts, "root", admin=True)
    at = app("app.py").run()
    assert _keys(at) == SIGN_IN_KEYS
    at.switch_page(page_file).run()
    assert not at.exception and _keys(at) == SIGN_IN_KEYS and not _elements(at.sidebar)


def test_through_app_py_a_member_signs_in_and_is_refused_the_admin_page(accounts: Accounts) -> None:
    add_user(accounts, "alice")
    at = sign_in(app("app.py").run(), "alice")
    assert signed_in(at) and not at.exception
    at.switch_page("pages/admin.py").run()  # /admin answers a member with a sentence, never the page
    assert at.error[0].value.startswith("Only administrators") and not at.exception
    assert not [t for t in at.tabs if t.label == "Users"]
    at = app("pages/admin.py")  # and the page file itself refuses them
    seed_session(at, "alice")
    assert at.run().error[0].value.startswith("Only administrators")


def _menu(at: AppTest) -> list[str]:
    return [link.proto.label for link in at.sidebar.get("page_link")]


def test_through_app_py_the_menu_lists_admin_only_for_an_administrator(accounts: Accounts) -> None:
    add_user(accounts, "root", admin=True)
    add_user(accounts, "alice")
    member = sign_in(app("app.py").run(), "alice")
    member.switch_page("pages/gallery.py").run()
    assert _menu(member) == ["Generate", "Gallery", "Usage", "Account"]
    admin = sign_in(app("app.py").run(), "root")
    admin.switch_page("pages/gallery.py").run()
    assert _menu(admin) == ["Generate", "Gallery", "Usage", "Account", "Admin"]


def test_through_app_py_an_admin_opens_the_admin_page(accounts: Accounts) -> None:
    add_user(accounts, "root", admin=True)
    at = sign_in(app("app.py").run(), "root")
    at.switch_page("pages/admin.py").run()
    assert not at.exception and _texts(at.title) == ["Admin"]


def test_page_files_are_where_app_py_expects_them() -> None:
    source = (ROOT / "app.py").read_text()
    for name in APP_PAGES:
        assert f'"{name}.py"' in source and f'url_path="{name}"' in source
    assert Path(ROOT / "pages" / "account.py").exists() and Path(ROOT / "pages" / "admin.py").exists()


def test_the_guard_can_be_called_twice_in_one_run(accounts: Accounts, tmp_path: Path) -> None:
    """Nothing the guard renders has a fixed key that a second call in the same run would repeat."""
    add_user(accounts, "alice")
    script = tmp_path / "twice.py"
    script.write_text(
        "import streamlit as st\n"
        "from ui.guard import require_user\n"
        "first, second = require_user(), require_user()\n"
        "st.text(f'{first.username} {second.username}')\n"
    )
    at = AppTest.from_file(str(script), default_timeout=30)
    at.secrets["cookie_key"] = "tw1ce-K3y_Qw9Zr2Lp7Xm4Vb8Nc1Hd6Jf0Gs5Ka"
    seed_session(at, "alice")
    at.run()
    assert not at.exception and _texts(at.text) == ["alice alice"]
    assert not at.run().exception


# -- sessions --------------------------------------------------------------------------------------------------------
def test_the_account_page_lists_sessions_and_signs_out_another_browser(accounts: Accounts) -> None:
    add_user(accounts, "alice")
    other = _sign_in_page(app("pages/account.py"), "alice")
    mine = _sign_in_page(app("pages/account.py"), "alice")
    assert "(this browser)" in " ".join(t.value for t in mine.text)
    (end_other,) = [b for b in mine.button if (b.key or "").startswith("session_end_")]
    end_other.click().run()
    assert any("Signed out" in s.value for s in mine.success)
    assert _keys(other.run()) == SIGN_IN_KEYS and "signed out" in other.warning[0].value
    assert mine.run().title[0].value == "Your account"


def test_an_admin_signs_a_user_out_everywhere(accounts: Accounts) -> None:
    add_user(accounts, "root", admin=True)
    add_user(accounts, "bob")
    bob = _sign_in_page(app("pages/account.py"), "bob")
    admin = _sign_in_page(app("pages/admin.py"), "root")
    admin.selectbox(key="admin_user").set_value("bob").run()
    admin.button(key="admin_signout_bob").click().run()
    assert any("signed out everywhere" in s.value for s in admin.success)
    assert _keys(bob.run()) == SIGN_IN_KEYS


def test_an_admin_makes_an_invitation_link_that_registers_a_member(accounts: Accounts) -> None:
    add_user(accounts, "root", admin=True)
    admin = _open_tab(_sign_in_page(app("pages/admin.py"), "root"), "Sign-up and quotas")
    admin.number_input(key="invitation_uses").set_value(2)
    admin.button(key="invitation_create").click().run()
    (link,) = [c.value for c in admin.code]
    assert "/account?invite=" in link
    assert any("2 use(s) left" in c.value for c in admin.caption)
    visitor = app("pages/account.py")
    visitor.query_params["invite"] = link.split("invite=", 1)[1]
    _register(visitor.run(), username="newbie", email="newbie@example.com")
    assert not visitor.exception and accounts.current_user("newbie") is not None
