"""Browser suite set-up: Debian's Chromium via Playwright, the real app and the fake providers on loopback."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.servers import ROOT, AppServer
from tests.fakes.cloudinary_server import FakeCloudinary
from tests.fakes.workers_ai import FakeWorkersAI

CHROMIUM = os.environ.get("AKARI_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "screenshots"
# Without these, Chromium keeps trying to reach Google's services on a closed network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    browser_tests = [item for item in items if here in Path(str(item.fspath)).parents]
    # The browser tests run last: Playwright's session-wide browser keeps an event loop running in the main thread,
    # and a later test that starts its own (asyncio.run, Starlette's TestClient) would find it there.
    items[:] = [item for item in items if item not in browser_tests] + browser_tests
    for item in browser_tests:
        item.add_marker(pytest.mark.e2e)
    if Path(CHROMIUM).exists() or not browser_tests:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"Chromium is missing at {CHROMIUM}: the browser tests cannot run under CI.")
    skip = pytest.mark.skip(reason=f"Chromium is missing at {CHROMIUM} (apt-get install chromium)")
    for item in browser_tests:
        item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict:
    return {"executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args() -> dict:
    return {"viewport": {"width": 1400, "height": 900}, "accept_downloads": True}


@pytest.fixture(scope="session")
def workers_ai() -> Iterator[FakeWorkersAI]:
    with FakeWorkersAI() as fake:
        yield fake


@pytest.fixture(scope="session")
def cloudinary() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as fake:
        yield fake


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory, workers_ai: FakeWorkersAI,
               cloudinary: FakeCloudinary) -> Iterator[AppServer]:
    """One app with the fake Cloudflare and Cloudinary, shared by the flows in order."""
    env = {**workers_ai.env(), **cloudinary.env(),
           "AKARI_READ_TIMEOUT": "2", "AKARI_MAX_RETRIES": "1"}
    server = AppServer(tmp_path_factory.mktemp("app") / "data", env=env).start()
    yield server
    server.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[AppServer]:
    """A new app on the embedded defaults that nobody has opened yet."""
    server = AppServer(tmp_path / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    return SCREENSHOTS
