"""The generation service: every attempt is a row, failures keep their reason, nothing paid for is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from akari.config import load_settings
from akari.db.models import Generation, User
from akari.errors import GenerationError, InvalidInput, PermissionDenied, QuotaExceeded, StoreError
from akari.generators import GeneratedImage
from akari.generators.offline import OfflineGenerator
from akari.prompts import GenerationRequest
from akari.queue import LiveInstance
from akari.stores import ImageMeta, StoredImage
from akari.stores.local import LocalStore
from akari.studio import Studio
from tests.fakes.gated_generator import GatedGenerator
from tests.waiting import eventually


class FlakyStore(LocalStore):
    """A local store whose uploads fail until `healthy` is set, like an image service that is down for a while."""

    name = "local"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.healthy = False
        self.attempts = 0

    def save(self, data: bytes, *, name: str, fmt: str, private: bool, meta: ImageMeta) -> StoredImage:
        self.attempts += 1
        if not self.healthy:
            raise StoreError("The image store is unavailable.", detail="HTTP 503", retryable=True)
        return super().save(data, name=name, fmt=fmt, private=private, meta=meta)


class RefusingGenerator(OfflineGenerator):
    def generate(self, prompt: str, *, steps: int, seed: int, deadline: float | None = None) -> GeneratedImage:
        raise GenerationError("The safety filter refused this prompt.", code="3030", reason="safety_filter",
                              detail="AiError: Input prompt contains NSFW content")


@pytest.fixture
def make_studio(database_url: str, tmp_path: Path):
    opened: list[Studio] = []

    def make(workers: int | None = 4, **kwargs: object) -> Studio:
        settings = load_settings(akari_data_dir=str(tmp_path / "data"), akari_database_url=database_url,
                                 akari_upload_retry_seconds="3600")
        studio = Studio.open(settings, **kwargs)  # type: ignore[arg-type]
        if workers:
            studio.start_workers(workers)
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
    assert record.neurons == 0  # the offline renderer costs nothing
    assert studio.images.read(record)[:3] == b"\xff\xd8\xff"
    assert record.spool_key is None  # stored: the row no longer needs its spooled copy...
    # ...which goes right after the waiter is woken (the waiter never waits for a file removal)
    assert eventually(lambda: list(studio.spool.root.iterdir()) == [])


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
    for bad in (GenerationRequest(prompt="   "), GenerationRequest(prompt="a cat", steps=9),
                GenerationRequest(prompt="\u200b\ufeff"), GenerationRequest(prompt="a \ud800 cat")):
        with pytest.raises(InvalidInput):
            studio.generations.submit(user_id, bad)
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
    assert row.finished_at is not None and row.lease_owner is None


def test_a_failed_upload_keeps_the_image_in_the_spool_and_a_retry_stores_it(make_studio, tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "store")
    studio = make_studio(store=store)
    user_id = studio.ensure_service_user("ada")
    record = studio.generations.generate(user_id, GenerationRequest(prompt="a lighthouse", seed=7))
    assert record.status == "pending_upload"
    assert "kept safely" in (record.error_message or "")
    assert record.spool_key is not None
    spooled = studio.spool.read(record.spool_key)
    assert spooled[:3] == b"\xff\xd8\xff"
    assert studio.images.read(record) == spooled  # the user still sees the image meanwhile

    me = LiveInstance(studio.sessions, kind="cli", workers=0, lease_seconds=30).register()
    try:
        report = studio.generations.retry_uploads(me)
        assert report.still_pending and not report.stored  # still down: nothing lost, still waiting
        assert studio.spool.exists(record.spool_key)

        store.healthy = True
        report = studio.generations.retry_uploads(me)
    finally:
        me.close()
    assert report.stored == [record.id]
    done = studio.generations.get(record.id)
    assert done.status == "succeeded" and done.error_message is None and done.error_reason is None
    assert studio.images.read(done) == spooled
    assert not studio.spool.exists(record.spool_key) and done.spool_key is None


def test_pending_uploads_are_retried_automatically(make_studio, tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "store")
    studio = make_studio(store=store)
    studio.generations.upload_retry_s = 0.05  # the backoff of a real server is 30 s and more
    user_id = studio.ensure_service_user("ada")
    record = studio.generations.generate(user_id, GenerationRequest(prompt="a lighthouse", seed=7))
    assert record.status == "pending_upload"
    store.healthy = True
    assert eventually(lambda: studio.generations.get(record.id).status == "succeeded")


def test_the_daily_quota_is_checked_before_any_call(make_studio) -> None:
    studio = make_studio()
    user_id = studio.ensure_service_user("ada")
    with studio.session() as session:
        session.execute(update(User).where(User.id == user_id).values(daily_quota=1))
    studio.generations.generate(user_id, GenerationRequest(prompt="one"))
    with pytest.raises(QuotaExceeded, match="00:00 UTC"):
        studio.generations.submit(user_id, GenerationRequest(prompt="two"))
    assert len(_rows(studio)) == 1
    usage = studio.quotas.daily_usage(user_id)
    assert (usage.used, usage.quota) == (1, 1)


def test_a_batch_is_accepted_whole_or_not_at_all(make_studio) -> None:
    studio = make_studio(workers=0)
    user_id = studio.ensure_service_user("ada")
    with studio.session() as session:
        session.execute(update(User).where(User.id == user_id).values(daily_quota=5))
    ids = studio.generations.submit_batch(user_id, GenerationRequest(prompt="four foxes", seed=3), 4)
    seeds = [studio.generations.get(i).seed for i in ids]
    assert len(ids) == 4 and seeds[0] == 3 and len(set(seeds)) == 4
    with pytest.raises(QuotaExceeded, match="1 of today's 5"):
        studio.generations.submit_batch(user_id, GenerationRequest(prompt="two more"), 2)
    assert len(_rows(studio)) == 4


def test_failed_and_cancelled_attempts_do_not_use_the_quota(make_studio) -> None:
    studio = make_studio(generator=RefusingGenerator())
    user_id = studio.ensure_service_user("ada")
    studio.generations.generate(user_id, GenerationRequest(prompt="something"))
    assert studio.quotas.daily_usage(user_id).used == 0


def test_a_queued_generation_can_be_cancelled_by_its_owner_only(make_studio) -> None:
    studio = make_studio(workers=0)
    ada, bea = studio.ensure_service_user("ada"), studio.ensure_service_user("bea")
    generation_id = studio.generations.submit(ada, GenerationRequest(prompt="never mind"))
    with pytest.raises(InvalidInput):
        studio.generations.cancel(bea, generation_id)
    studio.generations.cancel(ada, generation_id)
    assert studio.generations.get(generation_id).status == "cancelled"
    assert studio.quotas.daily_usage(ada).used == 0
    with pytest.raises(InvalidInput):  # already ended
        studio.generations.cancel(ada, generation_id)


def test_a_job_runs_in_the_background_and_can_be_polled(make_studio) -> None:
    generator = GatedGenerator()
    studio = make_studio(generator=generator)
    user_id = studio.ensure_service_user("ada")
    generation_id = studio.generations.submit(user_id, GenerationRequest(prompt="slow"))
    assert generator.started.wait(10)
    assert studio.generations.get(generation_id).status == "running"
    generator.release.set()
    assert studio.generations.wait(generation_id, timeout=10).status == "succeeded"


def test_a_queued_row_knows_how_many_are_ahead(make_studio) -> None:
    studio = make_studio(workers=0)
    user_id = studio.ensure_service_user("ada")
    ids = [studio.generations.submit(user_id, GenerationRequest(prompt=f"n{n}")) for n in range(3)]
    assert [studio.generations.position(i) for i in ids] == [0, 1, 2]


def test_a_disabled_account_cannot_submit(make_studio) -> None:
    studio = make_studio(workers=0)
    user_id = studio.ensure_service_user("ada")
    with studio.session() as session:
        session.execute(update(User).where(User.id == user_id).values(enabled=False))
    with pytest.raises(PermissionDenied):
        studio.generations.submit(user_id, GenerationRequest(prompt="x"))


def test_every_attempt_is_a_row(make_studio) -> None:
    studio = make_studio()
    user_id = studio.ensure_service_user("ada")
    for n in range(3):
        studio.generations.generate(user_id, GenerationRequest(prompt=f"image {n}"))
    with studio.sessions() as session:
        assert session.scalar(select(func.count(Generation.id))) == 3
