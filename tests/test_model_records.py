"""Generations by model through the whole service: every input recorded, references stored, the neuron quota holds."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from akari.config import load_settings
from akari.db.models import Generation
from akari.errors import AkariError, InvalidInput, QuotaExceeded
from akari.model_choice import ModelChoice
from akari.models_catalog import CATALOG, get_model
from akari.prompts import GenerationRequest
from akari.studio import Studio
from tests.fakes.workers_ai import FakeWorkersAI

SCHNELL = "@cf/black-forest-labs/flux-1-schnell"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
PHOENIX = "@cf/leonardo/phoenix-1.0"
SDXL = "@cf/bytedance/stable-diffusion-xl-lightning"


def picture(colour: tuple[int, int, int], size: tuple[int, int] = (640, 480)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def studio(database_url: str, tmp_path: Path, fake_workers_ai: FakeWorkersAI) -> Iterator[Studio]:
    settings = load_settings(akari_data_dir=str(tmp_path / "data"), akari_database_url=database_url,
                             akari_generator="cloudflare", akari_store="local", akari_max_retries="0",
                             **{k.lower(): v for k, v in fake_workers_ai.env().items()})
    opened = Studio.open(settings)
    yield opened
    opened.close()


def run(studio: Studio, username: str, request: GenerationRequest):
    user_id = studio.ensure_service_user(username)
    studio.start_workers(2)
    record = studio.generations.wait(studio.generations.submit(user_id, request), timeout=30)
    assert record.status == "succeeded", record.error_message
    return record


@pytest.mark.parametrize("model", sorted(CATALOG))
def test_each_model_is_made_and_recorded_with_every_input(studio, fake_workers_ai, model) -> None:
    spec = get_model(model)
    width, height = spec.size_for("16:9") if spec.takes_size else (None, None)
    request = GenerationRequest(
        "a lighthouse at dusk", steps=spec.default_steps, seed=11, model=model, width=width, height=height,
        guidance=spec.guidance.default if spec.guidance else None,
        negative_prompt="blurry" if spec.negative_prompt else None,
        reference=picture((200, 30, 30)) if spec.takes_reference else None)
    record = run(studio, "ada", request)
    assert record.model == model and record.model_label == spec.label
    made_w, made_h = (width, height) if spec.takes_size else (1024, 1024)
    assert (record.width, record.height) == (made_w, made_h)
    assert record.neurons == spec.neurons(made_w, made_h, spec.default_steps, int(spec.takes_reference))
    assert record.guidance == (spec.guidance.default if spec.guidance else None)
    assert record.negative_prompt == ("blurry" if spec.negative_prompt else None)
    sent = fake_workers_ai.runs()[-1]
    assert sent.model == model
    if spec.takes_reference:
        assert record.reference_key and studio.stores.get(record.reference_store).read(record.reference_key)
        assert "input_image_0" in sent.fields or "image_b64" in sent.fields
    else:
        assert record.reference_key is None
    assert record.reuse_settings()["model"] == model and record.reuse_settings()["width"] == record.width


def test_a_gallery_image_of_ones_own_can_be_the_reference_but_not_someone_elses_private_one(studio) -> None:
    mine = run(studio, "ada", GenerationRequest("a red barn", model=SCHNELL))
    again = run(studio, "ada", GenerationRequest("the barn in snow", model=KLEIN, reference_from=mine.id))
    assert again.reference_key == mine.image_key
    bob = studio.ensure_service_user("bob")
    with pytest.raises(InvalidInput, match="cannot be used as a reference"):
        studio.generations.submit(bob, GenerationRequest("steal", model=KLEIN, reference_from=mine.id))


def test_inputs_the_model_does_not_take_are_refused_and_change_nothing(studio) -> None:
    user_id = studio.ensure_service_user("ada")
    for request, words in [
        (GenerationRequest("x", model=PHOENIX, reference=picture((1, 2, 3))), "cannot start from a reference"),
        (GenerationRequest("x", model=SCHNELL, width=1024, height=768), "1024x1024 images only"),
        (GenerationRequest("x", model=KLEIN, negative_prompt="no"), "no negative prompt"),
        (GenerationRequest("x", model=PHOENIX, steps=60), "from 1 to 50"),
        (GenerationRequest("x", model=KLEIN, reference=b"not a picture"), "JPEG, PNG or WebP"),
        (GenerationRequest("x", model="@cf/nobody/nothing"), "Unknown model"),
    ]:
        with pytest.raises(InvalidInput, match=words):
            studio.generations.submit(user_id, request)
    with studio.session() as session:
        assert session.scalar(select(func.count(Generation.id))) == 0
    assert not list((studio.settings.data_dir / "images").rglob("ref-*"))


def test_only_enabled_models_can_be_used_and_the_admins_default_is_used_when_none_is_named(studio) -> None:
    ModelChoice(studio.sessions).set([KLEIN, SDXL], default=SDXL)
    user_id = studio.ensure_service_user("ada")
    with pytest.raises(InvalidInput, match=r"Leonardo Phoenix 1\.0 is not enabled"):
        studio.generations.submit(user_id, GenerationRequest("x", model=PHOENIX))
    generation_id = studio.generations.submit(user_id, GenerationRequest("x"))
    assert studio.generations.get(generation_id).model == SDXL
    with pytest.raises(InvalidInput, match="must be one of the enabled"):
        ModelChoice(studio.sessions).set([KLEIN], default=SDXL)


def test_a_refused_submit_leaves_no_uploaded_reference_behind(studio) -> None:
    user_id = studio.ensure_service_user("ada")
    studio.quotas.set_user_neurons(user_id, 1.0)
    with pytest.raises(QuotaExceeded, match="neurons"):
        studio.generations.submit(user_id, GenerationRequest("x", model=KLEIN, reference=picture((9, 9, 9))))
    assert not list((studio.settings.data_dir / "images").rglob("ref-*"))


def test_twenty_parallel_submits_hold_the_neuron_quota(studio) -> None:
    """Phoenix at its defaults costs 2,370 neurons: a quota of 3 images' worth accepts exactly 3 of 20 at once."""
    user_id = studio.ensure_service_user("ada")
    each = get_model(PHOENIX).neurons()
    studio.quotas.set_user_neurons(user_id, each * 3 + 1)
    barrier = threading.Barrier(20)

    def submit(n: int) -> int | str:
        barrier.wait()
        try:
            return studio.generations.submit(user_id, GenerationRequest(f"race {n}", steps=25, model=PHOENIX))
        except AkariError as exc:
            return exc.reason

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(submit, range(20)))
    assert sum(isinstance(r, int) for r in results) == 3
    assert [r for r in results if not isinstance(r, int)] == ["neuron_quota"] * 17
    spent = studio.quotas.daily_neurons(user_id)
    assert spent.used == pytest.approx(each * 3) and spent.left == pytest.approx(1.0)


def test_the_neuron_quota_counts_by_model_price_and_the_default_comes_from_the_admin(studio) -> None:
    user_id = studio.ensure_service_user("ada")
    studio.quotas.set_default_neurons(200.0)
    studio.generations.submit(user_id, GenerationRequest("a", model=SCHNELL))  # 57.6
    studio.generations.submit(user_id, GenerationRequest("b", model=KLEIN))  # 104.2
    with pytest.raises(QuotaExceeded, match=r"38\.2 of today's 200 left"):
        studio.generations.submit(user_id, GenerationRequest("c", model=SCHNELL))
    studio.generations.submit(user_id, GenerationRequest("d", model=SDXL))  # free while in beta


def test_a_field_the_provider_stopped_accepting_fails_the_row_in_words_and_reaches_the_admin(studio,
                                                                                            fake_workers_ai) -> None:
    from akari.model_health import refused_inputs

    fake_workers_ai.refuse_field(PHOENIX, "negative_prompt")
    user_id = studio.ensure_service_user("ada")
    studio.start_workers(1)
    record = studio.generations.wait(studio.generations.submit(
        user_id, GenerationRequest("a cat", steps=25, model=PHOENIX, negative_prompt="dogs")), timeout=30)
    assert record.status == "failed" and record.error_reason == "rejected_field"
    assert 'Leonardo Phoenix 1.0 refused the "negative_prompt" input' in record.error_message
    assert studio.quotas.daily_neurons(user_id).used == 0  # a failed attempt costs no quota
    [problem] = refused_inputs(studio.sessions)
    assert (problem.model, problem.field, problem.times) == ("Leonardo Phoenix 1.0", "negative_prompt", 1)


def test_reuse_settings_reuses_the_same_reference_and_only_where_the_user_may_see_it(studio) -> None:
    made = run(studio, "ada", GenerationRequest("a fox", model=KLEIN, reference=picture((9, 99, 9))))
    settings = made.reuse_settings()
    again = run(studio, "ada", GenerationRequest(**{k: v for k, v in settings.items() if k != "is_public"}))
    assert again.reference_key == made.reference_key and (again.model, again.seed) == (KLEIN, made.seed)
    bob = studio.ensure_service_user("bob")
    with pytest.raises(InvalidInput, match="cannot be reused"):
        studio.generations.submit(bob, GenerationRequest("x", model=KLEIN, reference_of=made.id))


def test_the_split_by_model_and_the_gallery_filter_on_each_database(studio) -> None:
    from datetime import timedelta

    from akari.db.models import utcnow
    from akari.gallery import Gallery, GalleryQuery
    from akari.usage import Usage, UsageFilter

    run(studio, "ada", GenerationRequest("one", model=SCHNELL))
    run(studio, "ada", GenerationRequest("two", model=PHOENIX, steps=10))
    run(studio, "ada", GenerationRequest("three", model=PHOENIX, steps=10))

    class Viewer:
        id = studio.user_id("ada")

    today = utcnow().date()
    split = Usage(studio).by_model(Viewer(), UsageFilter(today - timedelta(days=1), today, Viewer.id))
    assert [(m.model, m.generations, m.succeeded, m.neurons) for m in split] == [
        (PHOENIX, 2, 2, 2 * get_model(PHOENIX).neurons(steps=10)), (SCHNELL, 1, 1, 57.6)]
    assert all(m.average_ms is not None and m.p95_ms is not None for m in split)
    shown = Gallery(studio).page(Viewer(), GalleryQuery(model=PHOENIX)).items
    assert sorted(r.prompt for r in shown) == ["three", "two"]
