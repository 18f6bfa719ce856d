"""Security headers on every response, a CSP the pages render under with no violation, and metrics for admins only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, expect

from tests.e2e.runs import settled, sign_in
from tests.e2e.servers import AppServer, cli
from tests.fakes.cloudinary_server import FakeCloudinary
from tests.fakes.workers_ai import FakeWorkersAI
from ui.signin import COOKIE_NAME

ADMIN, ADMIN_PASSWORD = "hedda", "correct horse battery"
PAGES = ["generate", "gallery", "usage", "account", "admin"]
EXPECTED = {"x-content-type-options": "nosniff", "referrer-policy": "same-origin", "x-frame-options": "DENY"}

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, workers_ai: FakeWorkersAI,
           cloudinary: FakeCloudinary) -> Iterator[AppServer]:
    app = AppServer(tmp_path_factory.mktemp("headers") / "data", env={**workers_ai.env(), **cloudinary.env()}).start()
    cli(app, "users", "add", ADMIN, "--admin", stdin=ADMIN_PASSWORD + "\n")
    cli(app, "generate", "a lantern over a quiet harbour", "--user", ADMIN)
    yield app
    app.stop()


def _assert_headers(response: requests.Response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (response.url, name)
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


def test_every_kind_of_response_carries_the_headers(server: AppServer) -> None:
    for path in ["/", "/gallery", "/_stcore/health", "/images/nothing-here", "/favicon.png"]:
        _assert_headers(requests.get(server.url + path, timeout=10))
    _assert_headers(requests.post(server.url + "/auth/session", data={"ticket": "made-up"}, timeout=10))


def test_metrics_are_closed_to_anonymous_visitors_and_members(server: AppServer, browser: Browser) -> None:
    assert requests.get(server.url + "/_stcore/metrics", timeout=10).status_code == 404
    page = browser.new_context().new_page()
    sign_in(page, server, ADMIN, ADMIN_PASSWORD)
    cookie = next(c for c in page.context.cookies() if c["name"] == COOKIE_NAME)
    answer = requests.get(server.url + "/_stcore/metrics", cookies={COOKIE_NAME: cookie["value"]}, timeout=10)
    assert answer.status_code == 200
    page.context.close()


def test_every_page_renders_under_the_policy_with_no_violation(server: AppServer, browser: Browser) -> None:
    page = browser.new_context().new_page()
    violations: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            violations.append(message.text)

    page.on("console", watch)
    sign_in(page, server, ADMIN, ADMIN_PASSWORD)
    for name in PAGES:
        page.goto(f"{server.url}/{name}")
        expect(page.get_by_role("button", name="Log out")).to_be_visible()
        settled(page)
    page.goto(f"{server.url}/gallery")
    expect(page.locator("img[src*='c_fill']").first).to_be_visible()  # a Cloudinary thumbnail loads
    page.goto(f"{server.url}/usage")
    expect(page.locator("canvas, svg.marks").first).to_be_visible()  # a chart draws
    assert violations == []
    page.context.close()
