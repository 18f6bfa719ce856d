"""Pytest fixtures for the fake Workers AI server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.workers_ai import FakeWorkersAI


@pytest.fixture
def fake_workers_ai() -> Iterator[FakeWorkersAI]:
    with FakeWorkersAI() as fake:
        yield fake
