"""The generation service: every attempt is a row, failures keep their reason, nothing paid for is lost."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from akari.config import load_settings
from akari.db.models import Generation, User, utcnow
from akari.errors import GenerationError, InvalidInput, QuotaExceeded, StoreError
from akari.generators import GeneratedImage
from akari.generators.offline import OfflineGenerator
from akari.prompts import GenerationRequest
from akari.stores import StoredImage
from akari.stores.local import LocalStore
from akari.studio import Studio


class FlakyStore(LocalStore):
    """A local store whose uploads fail until `healthy` is set, like an image service that is down for a while."""

    name = "local"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.healthy = False
        self.attempts = 0

    def save(self, data: bytes, **kwargs: object) -> StoredImage:  # type: ignore[override]
        self.attempts += 1
        if not self.healthy:
            raise StoreError("The image store is unavailable.", detail="HTTP 503", retryable=True)
        return super().save(data, **kwargs)  # type: ignore[arg-type]


class RefusingGenerator(OfflineGenerator):
    def generate(self, prompt: str, *, steps: int, seed: int) -> GeneratedImage:
        raise GenerationError("The safety filter refused this prompt.", code="3030", reason="safety_filter",
                              detail="AiError: Input prompt contains NSFW content")


class GatedGenerator(OfflineGenerator):
    """Holds every generation until released, to look at a job while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def generate(self, prompt: str, *, steps: int, seed: int) -> GeneratedImage:
        assert self.release.wait(10)
        return super().generate(prompt, steps=steps, seed=seed)


@pytest.fixture
def make_studio(database_url: str, tmp_path: Path):
    opened: list[Studio] = []

    def make(**kwargs: object) -> Studio:
        settings = load_settings(akari_data_dir=str(tmp_path / "data"), akari_database_url=database_url)
        studio = Studio.open(settings, **kwargs)  # type: ignore[arg-type]
        opened.append(studio)
        return studio

    yield make
    for studio in opened:
        studio.close()


def _rows(studio: Studio) -> list[Generation]:
    with studio.sessions() as session:
        return list(session.scalars(select(Generation).order_by(Generation.id)))


def test_a_generation_is_recorded_stored_and_timed(make_studio) -> None:
    studio = make_studio()
    user_id = studio.ensure_service_user("ada")
    record = studio.generations.generate(user_id, GenerationRequest(prompt="a purple nebula", steps=4, seed=42))
    assert record.status == "succeeded"
    assert (record.width, record.height, record.image_format) == (1024, 1024, "jpeg")
    assert record.seed == 42 and record.steps == 4 and record.generator == "offline"
    assert record.generate_ms is not None and record.store_ms is not None
    assert Path(record.image_url).read_bytes()[:3] == b"\xff\xd8\xff"  # type: ignore[arg-type]
    assert Path(record.thumbnail_url).exists()  # type: ignore[arg-type]
    assert record.neurons == 0  # the offline renderer costs nothing
    assert studio.generations.image_bytes(record)[:3] == b"\xff\xd8\xff"


def test_a_random_seed_is_chosen_and_recorded(make_studio) -> None:
    studio = make_studio()
    user_id = studio.ensure_service_user("ada")
    first = studio.generations.generate(user_id, GenerationRequest(prompt="a fox"))
    second = studio.generations.generate(user_id, GenerationRequest(prompt="a fox"))
    assert first.seed != second.seed
    assert _rows(studio)[0].seed == first.seed


def test_bad_input_records_nothing(make_studio) -> None:
    studio = make_studio()
    user_id = studio.ensure_service_user("ada")
    with pytest.raises(InvalidInput):
        studio.generations.submit(user_id, GenerationRequest(prompt="   "))
    with pytest.raises(InvalidInput):
        studio.generations.submit(user_id, GenerationRequest(prompt="a cat", steps=9))
    assert _rows(studio) == []


def test_a_provider_refusal_is_a_failed_row_with_its_reason(make_studio) -> None:
    studio = make_studio(generator=RefusingGenerator())
    user_id = studio.ensure_service_user("ada")
    record = studio.generations.generate(user_id, GenerationRequest(prompt="something"))
    assert record.status == "failed"
    assert (record.error_reason, record.error_code) == ("safety_filter", "3030")
    assert record.error_message == "The safety filter refused this prompt."
    row = _rows(studio)[0]
    assert row.error_detail == "AiError: Input prompt contains NSFW content"
    assert row.finished_at is not None


def test_a_failed_upload_keeps_the_image_in_the_spool_and_a_retry_stores_it(make_studio, tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "store")
    studio = make_studio(store=store)
    user_id = studio.ensure_service_user("ada")
    record = studio.generations.generate(user_id, GenerationRequest(prompt="a lighthouse", seed=7))
    assert record.status == "pending_upload"
    assert "kept safely" in (record.error_message or "")
    spooled = studio.spool.get(record.id)
    assert spooled is not None and spooled[0][:3] == b"\xff\xd8\xff"
    assert studio.generations.image_bytes(record) == spooled[0]  # the user still sees the image meanwhile

    report = studio.generations.retry_uploads()
    assert report.still_pending and not report.stored  # still down: nothing lost, still waiting
    assert studio.spool.get(record.id) is not None

    store.healthy = True
    report = studio.generations.retry_uploads()
    assert report.stored == [record.id]
    done = studio.generations.get(record.id)
    assert done.status == "succeeded" and done.error_message is None
    assert Path(done.image_url).read_bytes() == spooled[0]  # type: ignore[arg-type]
    assert studio.spool.get(record.id) is None


def test_the_daily_quota_is_checked_before_any_call(make_studio) -> None:
    studio = make_studio()
    user_id = studio.ensure_service_user("ada")
    with studio.session() as session:
        session.execute(update(User).where(User.id == user_id).values(daily_quota=1))
    studio.generations.generate(user_id, GenerationRequest(prompt="one"))
    with pytest.raises(QuotaExceeded, match="00:00 UTC"):
        studio.generations.submit(user_id, GenerationRequest(prompt="two"))
    assert len(_rows(studio)) == 1
    assert studio.generations.daily_usage(user_id) == (1, 1)


def test_failed_attempts_do_not_use_the_quota(make_studio) -> None:
    studio = make_studio(generator=RefusingGenerator())
    user_id = studio.ensure_service_user("ada")
    studio.generations.generate(user_id, GenerationRequest(prompt="something"))
    assert studio.generations.daily_usage(user_id)[0] == 0


def test_a_job_runs_in_the_background_and_can_be_polled(make_studio) -> None:
    generator = GatedGenerator()
    studio = make_studio(generator=generator)
    user_id = studio.ensure_service_user("ada")
    generation_id = studio.generations.submit(user_id, GenerationRequest(prompt="slow"))
    assert studio.generations.get(generation_id).status in ("queued", "running")
    generator.release.set()
    assert studio.generations.wait(generation_id, timeout=10).status == "succeeded"


def test_rows_left_running_by_a_crash_are_marked_interrupted_at_the_next_start(make_studio) -> None:
    studio = make_studio()
    user_id = studio.ensure_service_user("ada")
    with studio.session() as session:
        dead = Generation(user_id=user_id, prompt="lost", steps=4, seed=1, model="m", generator="offline",
                          store="local", status="running", runner="gone-host:1")
        old = Generation(user_id=user_id, prompt="old", steps=4, seed=1, model="m", generator="offline",
                         store="local", status="running", runner="gone-host:1",
                         created_at=utcnow() - timedelta(hours=1))
        session.add_all([dead, old])
    reopened = make_studio()
    rows = {row.prompt: row for row in _rows(reopened)}
    assert rows["old"].status == "failed" and rows["old"].error_reason == "interrupted"
    # Another host's recent job may still be running: it is left alone.
    assert rows["lost"].status == "running"


def test_a_crashed_local_process_is_recognised_by_its_pid(make_studio) -> None:
    import socket

    studio = make_studio()
    user_id = studio.ensure_service_user("ada")
    with studio.session() as session:
        session.add(Generation(user_id=user_id, prompt="crashed", steps=4, seed=1, model="m", generator="offline",
                               store="local", status="queued", runner=f"{socket.gethostname()}:999999"))
    assert studio.generations.recover_interrupted() == 1


def test_every_attempt_is_a_row(make_studio) -> None:
    studio = make_studio()
    user_id = studio.ensure_service_user("ada")
    for n in range(3):
        studio.generations.generate(user_id, GenerationRequest(prompt=f"image {n}"))
    with studio.sessions() as session:
        assert session.scalar(select(func.count(Generation.id))) == 3
