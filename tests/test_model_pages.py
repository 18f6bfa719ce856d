"""The model-aware pages: the Generate form shows only what the chosen model takes and its cost; the gallery filters
by model; the usage page splits by model."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from akari.db.models import Generation, utcnow
from akari.gallery import Gallery, GalleryQuery
from akari.models_catalog import get_model
from akari.records import GenerationRecord
from akari.studio import Studio
from akari.usage import Usage, UsageFilter
from tests.ui_fixtures import reset_streamlit, seed_session, studio_with_member
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[1]
PAGE = str(ROOT / "pages" / "generate.py")
USAGE = str(ROOT / "pages" / "usage.py")
PASSWORD = "correct horse battery staple"
SCHNELL = "@cf/black-forest-labs/flux-1-schnell"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"
PHOENIX = "@cf/leonardo/phoenix-1.0"
SDXL = "@cf/bytedance/stable-diffusion-xl-lightning"


@pytest.fixture(autouse=True)
def fresh_streamlit(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Studio]]:
    yield from reset_streamlit(monkeypatch)


@pytest.fixture
def studio(fresh_streamlit: list[Studio]) -> Studio:
    return studio_with_member("ada", PASSWORD)


def page(script: str = PAGE, username: str = "ada") -> AppTest:
    at = AppTest.from_file(script, default_timeout=30)
    seed_session(at, username)
    return at.run()


def finished(at: AppTest, studio: Studio) -> GenerationRecord:
    """Wait for the last submitted batch (the workspace's feed), then rerun the page; returns its first image."""
    ids = at.session_state["gen_last_batch"]
    assert eventually(lambda: all(studio.generations.get(i).is_done for i in ids), timeout=30), \
        f"still running: {[(i, studio.generations.get(i).status) for i in ids]}"
    at.run()
    return studio.generations.get(ids[0])


def widget_labels(at: AppTest) -> set[str]:
    found = set()
    for kind in ("slider", "text_input", "selectbox", "button_group"):
        found |= {w.label for w in getattr(at, kind, [])}
    return found


def estimate(at: AppTest) -> str:
    return next(m.value for m in at.markdown if "neurons" in m.value)


def test_the_form_shows_only_what_the_chosen_model_takes_and_its_cost(studio) -> None:
    at = page()
    assert at.selectbox(key="gen_model").value == SCHNELL
    assert estimate(at) == "**57.6** neurons · 1024×1024"
    assert "Negative prompt" not in widget_labels(at) and not at.get("file_uploader")
    at.selectbox(key="gen_model").set_value(PHOENIX).run()
    assert {"Negative prompt", "Guidance", "Steps"} <= widget_labels(at) and not at.get("file_uploader")
    assert at.slider(key=f"gen_steps::{PHOENIX}").value == 25 and estimate(at) == "**2,370.0** neurons · 1024×1024"
    at.session_state["gen_aspect"] = "16:9"
    at.run()
    assert estimate(at) == f"**{get_model(PHOENIX).neurons(1024, 576, 25):,.1f}** neurons · 1024×576"
    at.selectbox(key="gen_model").set_value(KLEIN).run()
    assert "Negative prompt" not in widget_labels(at) and len(at.get("file_uploader")) == 1
    assert any("always uses 4 steps" in c.value for c in at.caption)
    assert estimate(at) == "**104.2** neurons · 1024×576"


def test_a_phoenix_image_at_16_9_is_made_and_recorded_with_its_inputs(studio) -> None:
    at = page()
    at.selectbox(key="gen_model").set_value(PHOENIX).run()
    at.session_state["gen_aspect"] = "16:9"
    at.text_input(key="gen_negative").input("blurry")
    at.text_area(key="gen_prompt").input("a harbour at night")
    at.button(key="gen_submit").click().run()
    assert not at.exception, at.exception
    record = finished(at, studio)
    assert record.status == "succeeded", record.error_message
    assert (record.model, record.width, record.height) == (PHOENIX, 1024, 576)
    assert (record.steps, record.negative_prompt, record.guidance) == (25, "blurry", 2.0)


def test_only_the_admins_enabled_models_are_offered(studio) -> None:
    from akari.model_choice import ModelChoice

    ModelChoice(studio.sessions).set([KLEIN, SDXL], default=SDXL)
    at = page()
    assert at.selectbox(key="gen_model").options == ["FLUX.2 [klein] 4B", "SDXL Lightning (beta)"]
    assert at.selectbox(key="gen_model").value == SDXL


def _row(studio: Studio, model: str, **values: object) -> None:
    user_id = studio.user_id("ada")
    base = {"user_id": user_id, "prompt": f"made by {model}", "steps": 4, "seed": 1, "model": model,
            "generator": "cloudflare", "store": "local", "status": "succeeded", "image_key": "x.jpg",
            "image_format": "jpeg", "width": 64, "height": 64, "created_at": utcnow() - timedelta(minutes=5)}
    with studio.sessions.begin() as session:
        session.add(Generation(**{**base, **values}))


def test_the_gallery_filters_by_model(studio) -> None:
    _row(studio, SCHNELL)
    _row(studio, PHOENIX)
    _row(studio, PHOENIX)
    gallery = Gallery(studio)

    class Viewer:
        id = studio.user_id("ada")
        is_admin = False

    got = gallery.page(Viewer(), GalleryQuery(model=PHOENIX))
    assert [r.model for r in got.items] == [PHOENIX, PHOENIX]
    assert len(gallery.page(Viewer(), GalleryQuery()).items) == 3


def test_the_gallery_page_filters_by_the_model_in_its_address_with_a_removable_chip(studio) -> None:
    _row(studio, SCHNELL)
    _row(studio, PHOENIX)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    seed_session(at, "ada")
    at.run()
    at.switch_page("pages/gallery.py")
    at.query_params["model"] = "Leonardo Phoenix 1.0"  # the address names the model as the picker does
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="model").value == PHOENIX

    def shown() -> str:
        return " ".join(e.value for kind in ("markdown", "caption", "text") for e in getattr(at, kind, []))

    assert f"made by {PHOENIX}" in shown() and f"made by {SCHNELL}" not in shown()
    chip = at.button(key="gallery_chip_model")
    assert re.sub(r"\\(.)", r"\1", chip.label) == "Model: Leonardo Phoenix 1.0"
    chip.click().run()
    assert at.selectbox(key="model").value == "Any model"
    assert f"made by {SCHNELL}" in shown() and "gallery_chip_model" not in [b.key for b in at.button]


def test_usage_is_split_by_model_with_counts_neurons_cost_and_time(studio) -> None:
    _row(studio, SCHNELL, neurons=57.6, generate_ms=1000, store_ms=200)
    _row(studio, SCHNELL, neurons=57.6, generate_ms=2000, store_ms=200)
    _row(studio, PHOENIX, neurons=2370.0, generate_ms=9000, store_ms=1000)
    _row(studio, PHOENIX, status="failed", neurons=0.0, image_key=None)

    class Viewer:
        id = studio.user_id("ada")

    today = utcnow().date()
    split = Usage(studio).by_model(Viewer(), UsageFilter(today - timedelta(days=1), today, Viewer.id))
    assert [(m.label, m.generations, m.succeeded, m.failed) for m in split] == [
        ("FLUX.1 [schnell]", 2, 2, 0), ("Leonardo Phoenix 1.0", 2, 1, 1)]
    assert split[0].neurons == pytest.approx(115.2) and split[0].average_ms == pytest.approx(1700)
    assert split[1].neurons == 2370.0 and 10_000 <= split[1].p95_ms < 11_000  # in its 1 s bucket
    assert split[1].dollars == pytest.approx(2370 * 0.011 / 1000)
    at = page(USAGE)
    assert not at.exception, at.exception
    table = at.table[0].value
    assert list(table.index) == ["FLUX.1 [schnell]", "Leonardo Phoenix 1.0"]
    assert list(table["Generations"]) == [2, 2]


def test_a_gallery_image_used_as_reference_starts_the_next_one(studio) -> None:
    at = page()
    at.text_area(key="gen_prompt").input("a green meadow")
    at.button(key="gen_submit").click().run()
    first = finished(at, studio)
    at.run()
    at.session_state["gen_reference_from"] = first.id  # what the gallery's "Use as reference" leaves
    at.selectbox(key="gen_model").set_value(KLEIN).run()
    assert any(f"Starting from gallery image #{first.id}" in c.value for c in at.caption)
    assert estimate(at) == f"**{104.2 + 5.37:.1f}** neurons · 1024×1024"
    at.text_area(key="gen_prompt").input("the meadow in autumn")
    at.button(key="gen_submit").click().run()
    second = finished(at, studio)
    assert second.status == "succeeded", second.error_message
    assert (second.model, second.reference_key) == (KLEIN, first.image_key)


def test_reuse_settings_from_the_gallery_restores_the_model_its_inputs_and_reference(studio) -> None:
    at = page()
    at.text_area(key="gen_prompt").input("a green meadow")
    at.button(key="gen_submit").click().run()
    first = finished(at, studio)
    at.session_state["gen_reference_from"] = first.id
    at.selectbox(key="gen_model").set_value(KLEIN).run()
    at.session_state["gen_aspect"] = "16:9"
    at.text_area(key="gen_prompt").input("the meadow in autumn")
    at.button(key="gen_submit").click().run()
    made = finished(at, studio)
    assert (made.model, made.width, made.height, made.reference_key) == (KLEIN, 1024, 576, first.image_key)

    gallery = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    gallery.secrets["cookie_key"] = "test-cookie-key-" + "x" * 32
    seed_session(gallery, "ada")
    gallery.run()
    gallery.switch_page("pages/gallery.py").run()
    gallery.button(key=f"gallery_open_{made.id}").click().run()
    assert any("Model: FLUX.2 [klein] 4B" in re.sub(r"\\(.)", r"\1", c.value) for c in gallery.caption)
    gallery.button(key=f"model_reuse_{made.id}").click().run()
    assert not gallery.exception, gallery.exception
    assert gallery.selectbox(key="gen_model").value == KLEIN
    assert gallery.session_state["gen_aspect"] == "16:9"
    assert gallery.text_area(key="gen_prompt").value == "the meadow in autumn"
    assert any(f"Starting from the reference image of #{made.id}" in c.value for c in gallery.caption)
    gallery.button(key="gen_submit").click().run()
    again = finished(gallery, studio)
    assert (again.model, again.width, again.height, again.seed) == (KLEIN, 1024, 576, made.seed)
    assert again.reference_key == first.image_key and again.id != made.id


def test_variations_make_the_same_model_and_size_even_after_the_form_moved_on(studio) -> None:
    at = page()
    at.selectbox(key="gen_model").set_value(PHOENIX).run()
    at.session_state["gen_aspect"] = "9:16"
    at.text_area(key="gen_prompt").input("a tall tower")
    at.button(key="gen_submit").click().run()
    first = finished(at, studio)
    at.run()
    at.selectbox(key="gen_model").set_value(SCHNELL).run()
    at.button(key=f"gen_variations_{first.id}").click().run()
    assert not at.exception, at.exception
    again = finished(at, studio)
    assert again.id != first.id and again.status == "succeeded", again.error_message
    assert (again.model, again.width, again.height, again.steps) == (PHOENIX, 576, 1024, 25)
    assert again.seed != first.seed  # a variation: a new seed

    at.selectbox(key="gen_model").set_value(SCHNELL).run()
    at.button(key=f"gen_reuse_{first.id}").click().run()  # Reuse settings: model, aspect and seed back in the form
    assert at.selectbox(key="gen_model").value == PHOENIX and at.session_state["gen_aspect"] == "9:16"
    at.button(key="gen_submit").click().run()
    same = finished(at, studio)
    assert (same.model, same.width, same.height, same.steps, same.seed) == (PHOENIX, 576, 1024, 25, first.seed)
