"""API tokens in a real browser: made on the Account page, used from the page's own fetch, revoked, refused."""

from __future__ import annotations

import os
import subprocess
import sys

from playwright.sync_api import Page, expect

from tests.e2e.servers import ROOT, AppServer
from tests.waiting import eventually
from ui.signin import COOKIE_NAME

USER, PASSWORD = "tia", "tokens and teacups"
FETCH = """async ([token, prompt]) => {
    const headers = {'Content-Type': 'application/json'};
    if (token) headers['Authorization'] = 'Bearer ' + token;
    const answer = await fetch('/api/image-generation', {method: 'POST', headers, body: JSON.stringify({prompt})});
    return {status: answer.status, body: await answer.json()};
}"""

expect.set_options(timeout=20_000)


def _add_user(server: AppServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "CLOUDINARY_", "AKARI_"))}
    env.update({"AKARI_DATA_DIR": str(server.data_dir), "AKARI_BCRYPT_ROUNDS": "4", **server.env})
    result = subprocess.run([sys.executable, "-m", "akari", "users", "add", USER], cwd=ROOT, env=env,
                            input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _settled(page: Page) -> None:
    expect(page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]')).to_have_count(1)


def _key(page: Page, widget_key: str):
    _settled(page)
    return page.locator(f".st-key-{widget_key}")


def _sign_in(page: Page, server: AppServer) -> None:
    page.goto(f"{server.url}/account")
    page.get_by_role("textbox", name="Username", exact=True).fill(USER)
    page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert eventually(lambda: any(c["name"] == COOKIE_NAME for c in page.context.cookies()), 10), \
        "the sign-in cookie was never set"


def test_a_token_made_on_the_account_page_works_from_fetch_until_revoked(app_server: AppServer, page: Page) -> None:
    _add_user(app_server)
    _sign_in(page, app_server)
    page.goto(f"{app_server.url}/account")
    _key(page, "tokens_name").locator("input").fill("browser test")
    _key(page, "tokens_create").locator("button").click()
    code = page.locator('[data-testid="stCode"] code')
    expect(code).to_contain_text("akari_")
    token = code.inner_text().strip()

    with_cookie = page.evaluate(FETCH, [None, "a lantern in the fog"])  # the original call, unchanged
    assert with_cookie["status"] == 200, with_cookie
    assert next(iter(with_cookie["body"])) == "photo" and with_cookie["body"]["photo"].startswith("http")
    with_token = page.evaluate(FETCH, [token, "a lantern in the rain"])
    assert with_token["status"] == 200, with_token

    page.reload()
    expect(page.locator('[data-testid="stCode"]')).to_have_count(0)  # shown once
    _key(page, "tokens_revoke").locator("button").click()
    expect(page.get_by_text("is revoked: its next call fails.")).to_be_visible()
    refused = page.evaluate(FETCH, [token, "a lantern in the snow"])
    assert (refused["status"], refused["body"]["reason"]) == (401, "unauthenticated")
