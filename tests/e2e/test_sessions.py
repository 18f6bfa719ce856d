"""Sign-in sessions in a real browser: the cookie's flags, and a captured cookie that stops working at once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.runs import settled, sign_in
from tests.e2e.servers import AppServer, cli
from ui.signin import COOKIE_NAME

ADMIN, ADMIN_PASSWORD = "ada", "correct horse battery"
MEMBER, MEMBER_PASSWORD = "bea", "staple paper clouds"

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    app = AppServer(tmp_path_factory.mktemp("sessions") / "data").start()
    cli(app, "users", "add", ADMIN, "--admin", stdin=ADMIN_PASSWORD + "\n")
    yield app
    app.stop()


@pytest.fixture
def member(server: AppServer) -> Iterator[str]:
    """A member created for one test, deleted after it (its password may change in the test)."""
    cli(server, "users", "add", MEMBER, stdin=MEMBER_PASSWORD + "\n")
    yield MEMBER
    cli(server, "users", "delete", MEMBER)


def _browser_signed_in(browser: Browser, server: AppServer, username: str, password: str) -> tuple[Page, dict]:
    page = browser.new_context().new_page()
    sign_in(page, server, username, password, path="account")
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE_NAME)
    return page, cookie


def _signs_in(browser: Browser, server: AppServer, cookie: dict) -> bool:
    """Whether a fresh browser holding only this cookie is let in."""
    context = browser.new_context()
    try:
        context.add_cookies([cookie])
        page = context.new_page()
        page.goto(f"{server.url}/account")
        expect(page.get_by_role("button", name="Log out").or_(
            page.get_by_role("button", name="Sign in", exact=True))).to_be_visible()
        settled(page)
        return page.get_by_role("button", name="Log out").count() == 1
    finally:
        context.close()


def test_the_cookie_is_httponly_and_strict_and_page_scripts_cannot_read_it(browser: Browser, server: AppServer,
                                                                             member: str) -> None:
    page, cookie = _browser_signed_in(browser, server, member, MEMBER_PASSWORD)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert cookie["secure"] is False  # plain HTTP here; AKARI_BEHIND_TLS=true adds Secure (tests/test_signins.py)
    assert COOKIE_NAME not in page.evaluate("document.cookie")
    assert _signs_in(browser, server, cookie)
    page.context.close()


def _log_out(page: Page, _server: AppServer) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()


def _change_password(page: Page, _server: AppServer) -> None:
    page.get_by_role("textbox", name="Current password").fill(MEMBER_PASSWORD)
    page.get_by_role("textbox", name="New password", exact=True).fill("an entirely new passphrase")
    page.get_by_role("textbox", name="Repeat the new password").fill("an entirely new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Your password is changed.", exact=False)).to_be_visible()


def _reset(_page: Page, server: AppServer) -> None:
    cli(server, "users", "reset-password", MEMBER, stdin="a password set by the admin\n")


def _disable(_page: Page, server: AppServer) -> None:
    cli(server, "users", "disable", MEMBER)
    cli(server, "users", "enable", MEMBER)  # enabled again: the old sign-in stays ended


def _delete_and_recreate(_page: Page, server: AppServer) -> None:
    cli(server, "users", "delete", MEMBER)
    cli(server, "users", "add", MEMBER, stdin=MEMBER_PASSWORD + "\n")


@pytest.mark.parametrize("event", [_log_out, _change_password, _reset, _disable, _delete_and_recreate],
                         ids=["log-out", "password-change", "admin-reset", "disable", "delete-and-recreate"])
def test_a_captured_cookie_fails_after(event: Callable[[Page, AppServer], None], browser: Browser,
                                       server: AppServer, member: str) -> None:
    copied, captured = _browser_signed_in(browser, server, member, MEMBER_PASSWORD)  # someone copied its cookie
    acting = copied
    if event is _change_password:
        acting, _ = _browser_signed_in(browser, server, member, MEMBER_PASSWORD)  # the owner, in another browser
    assert _signs_in(browser, server, captured)
    event(acting, server)
    assert not _signs_in(browser, server, captured)
    if acting is not copied:
        acting.reload()  # the browser that changed the password stays signed in
        expect(acting.get_by_role("button", name="Log out")).to_be_visible()
        acting.context.close()
    copied.context.close()


def test_log_out_clears_the_draft_and_the_cookie(browser: Browser, server: AppServer, member: str,
                                                 tmp_path: Path) -> None:
    page, _ = _browser_signed_in(browser, server, member, MEMBER_PASSWORD)
    page.goto(f"{server.url}/generate")
    page.get_by_role("textbox", name="Prompt").fill("a secret draft about the merger")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    sign_in(page, server, member, MEMBER_PASSWORD, path="generate")
    expect(page.get_by_role("textbox", name="Prompt")).to_have_value("")
    page.context.close()
