"""The API modules' fixtures: both providers faked, one server per module, and no fault left for the next test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.harness import Api, open_api
from tests.fakes.cloudinary_server import FakeCloudinary
from tests.fakes.workers_ai import FakeWorkersAI


@pytest.fixture(scope="module")
def workers_ai() -> Iterator[FakeWorkersAI]:
    with FakeWorkersAI() as fake:
        yield fake


@pytest.fixture(scope="module")
def cloudinary() -> Iterator[FakeCloudinary]:
    with FakeCloudinary() as fake:
        yield fake


@pytest.fixture(scope="module")
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, workers_ai: FakeWorkersAI,
        cloudinary: FakeCloudinary) -> Iterator[Api]:
    """One server with Workers AI and Cloudinary faked, shared by the module."""
    yield from open_api(tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1]),
                        {**workers_ai.env(), **cloudinary.env()})


@pytest.fixture(autouse=True)
def _no_faults_left(workers_ai: FakeWorkersAI, cloudinary: FakeCloudinary) -> Iterator[None]:
    yield
    workers_ai.reset()
    cloudinary.reset()
