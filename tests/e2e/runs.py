"""Driving the app in a browser: sign in, wait for Streamlit's run to settle before reading or clicking (never
sleep), take screenshots once every image has loaded."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Locator, Page, expect

from tests.e2e.servers import AppServer
from tests.waiting import eventually
from ui.signin import COOKIE_NAME

SETTLED = '[data-testid="stApp"][data-test-script-state="notRunning"]'


def settled(page: Page) -> None:
    """Wait until Streamlit has finished running the script for this page."""
    expect(page.locator(SETTLED)).to_have_count(1)


def key(page: Page, widget_key: str) -> Locator:
    """Streamlit marks every keyed element with the class st-key-<key>; waits for the run to settle first, since
    a rerun leaves the previous run's elements in the page (marked stale) until it ends."""
    settled(page)
    return page.locator(f".st-key-{widget_key}")


def sign_in(page: Page, server: AppServer, username: str, password: str, path: str = "generate") -> None:
    page.goto(f"{server.url}/{path}")
    page.get_by_role("textbox", name="Username", exact=True).fill(username)
    page.get_by_role("textbox", name="Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    wait_for_cookie(page, present=True)


def wait_for_cookie(page: Page, present: bool, timeout: float = 10.0) -> None:
    """The sign-in cookie is written by a component in the page, a moment after the page shows the user."""
    assert eventually(lambda: any(c["name"] == COOKIE_NAME for c in page.context.cookies()) == present, timeout), \
        f"the sign-in cookie was {'never set' if present else 'not deleted'}"


def shot(page: Page, folder: Path, name: str) -> None:
    """A screenshot once the run has settled and every image on screen has loaded (no fixed sleep)."""
    settled(page)
    page.wait_for_function("() => [...document.images].every(image => image.complete)")
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
