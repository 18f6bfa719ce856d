"""Shared fixtures: no test reaches a real account; each test gets a fresh data dir."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

pytest_plugins = ["tests.db_fixtures", "tests.fakes.cloudinary_fixtures", "tests.fakes.workers_ai_fixtures"]

_PROVIDER_PREFIXES = ("CLOUDFLARE_", "CLOUDINARY_", "AKARI_")


@pytest.fixture(autouse=True)
def _no_real_accounts(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Strip provider credentials and Akari settings so tests only see what they set themselves."""
    for name in list(os.environ):
        if name.startswith(_PROVIDER_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AKARI_DATA_DIR", str(tmp_path / "data"))
    # Never a developer's .streamlit/secrets.toml (it may hold real credentials): a file no test writes.
    monkeypatch.setenv("AKARI_SECRETS_FILE", str(tmp_path / "no-secrets.toml"))


@pytest.fixture(autouse=True)
def _akari_log_as_it_was() -> Iterator[None]:
    """A studio opened by a test configures Akari's log (its own handler, not propagated); later tests' caplog
    must still see the lines."""
    yield
    akari_log = logging.getLogger("akari")
    akari_log.handlers.clear()
    akari_log.propagate = True
    akari_log.setLevel(logging.NOTSET)
