"""API tokens in a real browser: made on the Account page, used from the page's own fetch, revoked, refused."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.runs import key, sign_in
from tests.e2e.servers import AppServer, cli

USER, PASSWORD = "tia", "tokens and teacups"
FETCH = """async ([token, prompt]) => {
    const headers = {'Content-Type': 'application/json'};
    if (token) headers['Authorization'] = 'Bearer ' + token;
    const answer = await fetch('/api/image-generation', {method: 'POST', headers, body: JSON.stringify({prompt})});
    return {status: answer.status, body: await answer.json()};
}"""

expect.set_options(timeout=20_000)


def test_a_token_made_on_the_account_page_works_from_fetch_until_revoked(app_server: AppServer, page: Page) -> None:
    cli(app_server, "users", "add", USER, stdin=PASSWORD + "\n")
    sign_in(page, app_server, USER, PASSWORD, path="account")
    key(page, "tokens_name").locator("input").fill("browser test")
    key(page, "tokens_create").locator("button").click()
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
    key(page, "tokens_revoke").locator("button").click()
    expect(page.get_by_text("is revoked: its next call fails.")).to_be_visible()
    refused = page.evaluate(FETCH, [token, "a lantern in the snow"])
    assert (refused["status"], refused["body"]["reason"]) == (401, "unauthenticated")
