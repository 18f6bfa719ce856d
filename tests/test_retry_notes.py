"""Retries inside a provider call are visible while they happen: the running row says "busy, retrying 2/4"."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from akari import retries
from akari.config import load_settings
from akari.errors import AkariError, GenerationError
from akari.generators import GeneratedImage
from akari.generators.cloudflare import CloudflareGenerator
from akari.generators.offline import OfflineGenerator
from akari.prompts import GenerationRequest
from akari.studio import Studio
from tests.fakes.workers_ai import FakeWorkersAI
from tests.fakes.workers_ai_fixtures import fake_workers_ai  # noqa: F401  (fixture)
from tests.waiting import eventually


class RetryingGenerator(OfflineGenerator):
    """Announces a retry the way the Cloudflare client does, then waits to be released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def generate(self, prompt: str, *, steps: int, seed: int, deadline: float | None = None) -> GeneratedImage:
        retries.announce(2, 4, GenerationError("Busy.", code="3040", reason="capacity", retryable=True))
        assert self.release.wait(20)
        return super().generate(prompt, steps=steps, seed=seed)


@pytest.fixture
def studio(database_url: str, tmp_path: Path) -> Iterator[tuple[Studio, RetryingGenerator]]:
    generator = RetryingGenerator()
    settings = load_settings(akari_data_dir=str(tmp_path / "data"), akari_database_url=database_url)
    opened = Studio.open(settings, generator=generator)
    opened.start_workers(2)
    yield opened, generator
    generator.release.set()
    opened.close()


def test_a_running_row_says_the_service_is_busy_and_which_try_is_next(studio) -> None:
    opened, generator = studio
    user = opened.ensure_service_user("ada")
    generation_id = opened.generations.submit(user, GenerationRequest("a busy evening"))
    assert eventually(lambda: opened.generations.get(generation_id).error_message is not None)
    record = opened.generations.get(generation_id)
    assert record.status == "running"
    assert record.error_message == "The image service is busy, retrying 2/4"
    generator.release.set()
    done = opened.generations.wait(generation_id, timeout=20)
    assert done.status == "succeeded" and done.error_message is None and done.error_reason is None


def test_the_cloudflare_client_announces_each_retry_with_the_attempts_left(
        fake_workers_ai: FakeWorkersAI) -> None:  # noqa: F811
    heard: list[tuple[int, int, str]] = []

    def listener(attempt: int, attempts: int, error: AkariError) -> None:
        heard.append((attempt, attempts, error.reason))

    client = CloudflareGenerator(fake_workers_ai.account_id, fake_workers_ai.token, api_base=fake_workers_ai.api_base,
                                 read_timeout=5, max_retries=3, sleep=lambda _s: None)
    fake_workers_ai.fail_next(3040, status=429, times=2)
    with retries.listening(listener):
        client.generate("x", steps=4, seed=1)
    client.close()
    assert heard == [(2, 4, "capacity"), (3, 4, "capacity")]
    assert retries.retry_note(2, 4, GenerationError("x", reason="capacity")) == \
        "The image service is busy, retrying 2/4"
