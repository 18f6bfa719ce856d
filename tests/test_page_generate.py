"""The Generate page: an image from a prompt, its progress and result, and every refusal in the user's words."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from streamlit.testing.v1 import AppTest

from akari.db.models import Generation
from akari.errors import StoreError
from akari.naming import download_name, slug
from akari.prompts import MAX_PROMPT_CHARS, GenerationRequest
from akari.records import GenerationRecord
from akari.studio import Studio
from tests.fakes.cloudinary_fixtures import fake_cloudinary  # noqa: F401  (fixture)
from tests.fakes.cloudinary_server import FakeCloudinary
from tests.fakes.workers_ai import FakeWorkersAI
from tests.fakes.workers_ai_fixtures import fake_workers_ai  # noqa: F401  (fixture)
from tests.ui_fixtures import reset_streamlit, seed_session, studio_with_member
from tests.waiting import eventually
from ui import generate_view as view

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")
PAGE = str(ROOT / "pages" / "generate.py")
PASSWORD = "correct horse battery staple"


@pytest.fixture(autouse=True)
def fresh_streamlit(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Studio]]:
    """Empty caches (shared by every AppTest in the process) and close every studio the page opened."""
    yield from reset_streamlit(monkeypatch)


@pytest.fixture
def studio(fresh_streamlit: list[Studio]) -> Studio:
    return studio_with_member("ada", PASSWORD)


def signed_in_page(username: str = "ada") -> AppTest:
    """The page run as a signed-in user, seeded the way the sign-in leaves the session."""
    at = AppTest.from_file(PAGE, default_timeout=30)
    seed_session(at, username)
    return at.run()


def generate(at: AppTest, prompt: str, **settings: object) -> AppTest:
    at.text_area(key="gen_prompt").input(prompt)
    for key, value in settings.items():
        at.session_state[key] = value
    return at.button(key="gen_submit").click().run()


def wait_done(studio: Studio, ids: list[int]) -> list[GenerationRecord]:
    """Poll the rows (the jobs run in the page's studio) until every one is done."""
    assert eventually(lambda: all(studio.generations.get(i).is_done for i in ids), timeout=30), \
        f"still running: {[(i, studio.generations.get(i).status) for i in ids]}"
    return [studio.generations.get(i) for i in ids]


def finished(at: AppTest, studio: Studio) -> GenerationRecord:
    """Wait for the last submitted batch, then rerun the page as the feed's poll would; returns its first image."""
    records = wait_done(studio, at.session_state["gen_last_batch"])
    at.run()
    assert not at.exception, at.exception
    return records[0]


def rows(studio: Studio) -> list[Generation]:
    with studio.sessions() as session:
        return list(session.scalars(select(Generation).order_by(Generation.id)))


def errors(at: AppTest) -> str:
    return "\n".join(e.value for e in at.error)


def captions(at: AppTest) -> str:
    return " ".join(c.value for c in at.caption)


def held_runs(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Workers take jobs but wait at the gate before making anything: jobs stay running until it opens."""
    gate = threading.Event()
    real_run = studio.generations.run.__func__  # type: ignore[attr-defined]

    def held_run(service: object, job: object, owner: str) -> None:
        gate.wait(10)
        real_run(service, job, owner)

    monkeypatch.setattr(type(studio.generations), "run", held_run)
    return gate


def test_an_offline_image_is_generated_shown_in_the_feed_and_recorded(studio: Studio) -> None:
    at = signed_in_page()
    assert not at.exception, at.exception
    assert at.button(key="gen_submit").disabled is False
    assert at.session_state["gen_steps"] == 4 and at.session_state["gen_seed"] is None
    assert at.toggle(key="gen_public").value is False
    assert "Your images will appear here" in " ".join(m.value for m in at.markdown)

    at = generate(at, "a purple nebula over snowy mountains", gen_steps=3)
    assert not errors(at)
    record = finished(at, studio)

    assert record.status == "succeeded" and record.steps == 3 and not record.is_public
    [row] = rows(studio)
    assert row.status == "succeeded" and row.prompt == "a purple nebula over snowy mountains"
    assert len(at.image) == 1
    assert f"seed {record.seed}" in captions(at) and "3 steps" in captions(at)
    assert any("Offline sketch — not AI output" in m.value for m in at.markdown)  # the badge over the batch
    assert "a purple nebula over snowy mountains" in [t.value for t in at.text]
    assert at.get("download_button")[0].proto.help == "Download"
    assert "199 of 200 generations left today" in at.get("progress")[0].proto.text.replace("*", "")


def test_the_form_never_blocks_and_each_submit_joins_the_queue(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = signed_in_page()
    gate = held_runs(studio, monkeypatch)
    at = generate(at, "a lighthouse at dusk")
    assert at.button(key="gen_submit").disabled is False
    assert at.button(key="gen_submit").proto.label == "Generate"
    at = generate(at, "a harbour at dawn")  # a second job while the first one runs
    assert at.button(key="gen_submit").disabled is False
    assert [r.prompt for r in rows(studio)] == ["a lighthouse at dusk", "a harbour at dawn"]
    assert "2 in your queue" in captions(at)
    texts = [t.value for t in at.text]
    assert texts.index("a harbour at dawn") < texts.index("a lighthouse at dusk"), "newest first"
    assert "Generating…" in captions(at)
    gate.set()
    wait_done(studio, [r.id for r in rows(studio)])
    at.run()
    assert len(at.image) == 2
    assert "in your queue" not in captions(at)


def test_a_batch_makes_each_image_with_its_own_seed_shown_as_a_grid(studio: Studio) -> None:
    at = signed_in_page()
    at = generate(at, "four kinds of tea", gen_count=4, gen_seed=5)
    finished(at, studio)
    made = rows(studio)
    assert len(made) == 4 and made[0].seed == 5
    assert len({row.seed for row in made}) == 4
    assert len(at.image) == 4
    assert len(at.columns) >= 2, "a batch is laid out as a grid"
    assert "196 of 200" in at.get("progress")[0].proto.text.replace("*", "")


def test_a_queued_job_shows_its_place_and_can_be_cancelled(studio: Studio, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKARI_WORKERS", "0")  # every worker busy elsewhere: the jobs wait their turn
    other = studio.ensure_service_user("zoe")
    studio.generations.submit(other, GenerationRequest(prompt="someone else's, first in line"))
    at = generate(signed_in_page(), "a lighthouse at dusk", gen_count=2)
    first, second = at.session_state["gen_last_batch"]
    assert "Queued, 1 ahead" in captions(at) and "Queued, 2 ahead" in captions(at)

    at.button(key=f"gen_cancel_{second}").click().run()
    assert studio.generations.get(second).status == "cancelled"
    assert studio.generations.get(first).status == "queued"
    assert "Cancelled" in errors(at)
    assert "199 of 200" in at.get("progress")[0].proto.text.replace("*", ""), "a cancelled job is not counted"


def test_a_retry_inside_the_provider_call_is_shown_on_its_image(studio: Studio, monkeypatch: pytest.MonkeyPatch
                                                                   ) -> None:
    monkeypatch.setenv("AKARI_WORKERS", "0")
    at = generate(signed_in_page(), "a busy evening")
    [generation_id] = at.session_state["gen_last_batch"]
    with studio.sessions.begin() as session:  # as a worker leaves it between two attempts
        session.execute(update(Generation).where(Generation.id == generation_id).values(
            status="running", lease_owner="elsewhere", error_message="The image service is busy, retrying 2/4"))
    at.run()
    assert "busy, retrying 2/4" in captions(at)


@pytest.mark.skipif(
    any(not (ROOT / "pages" / f"{name}.py").exists() for name in ("gallery", "usage", "account", "admin")),
    reason="app.py lists pages that are not written yet",
)
def test_the_feed_and_the_form_survive_a_visit_to_another_page(studio: Studio) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    seed_session(at, "ada")
    at.run()
    at = generate(at, "a fox in the snow", gen_steps=6, gen_seed=77)
    finished(at, studio)
    at.text_area(key="gen_prompt").input("half-written next idea").run()

    at.switch_page("pages/account.py").run()
    assert not at.exception, at.exception
    assert not at.image
    at.switch_page("pages/generate.py").run()

    assert "seed 77" in captions(at)
    assert len(at.image) == 1
    assert at.text_area(key="gen_prompt").value == "half-written next idea"
    assert (at.slider(key="gen_steps").value, at.number_input(key="gen_seed").value) == (6, 77)


def test_another_users_generations_are_never_in_the_feed(studio: Studio) -> None:
    studio.accounts.create_user("bob", PASSWORD)
    at = signed_in_page()
    at = generate(at, "ada's private idea")
    finished(at, studio)
    bob = signed_in_page("bob")
    assert not bob.image
    assert "ada's private idea" not in [t.value for t in bob.text]


def test_style_is_applied_and_the_final_prompt_is_shown(studio: Studio) -> None:
    at = signed_in_page()
    at.text_area(key="gen_prompt").input("a quiet harbour")
    at.selectbox(key="gen_style").select("Watercolour").run()
    expected = "a quiet harbour, delicate watercolour painting, soft washes, paper texture"
    assert expected in [c.value for c in at.code]
    at.button(key="gen_submit").click().run()
    record = finished(at, studio)
    assert record.prompt == expected


def test_reuse_settings_fills_the_form_and_generates_nothing(studio: Studio) -> None:
    at = signed_in_page()
    at = generate(at, "a red kite", gen_seed=1234, gen_steps=2, gen_public=True)
    first = finished(at, studio)
    at.text_area(key="gen_prompt").input("something else").run()
    at.session_state["gen_seed"] = None

    at.button(key=f"gen_reuse_{first.id}").click().run()
    assert len(rows(studio)) == 1
    assert at.text_area(key="gen_prompt").value == "a red kite"
    assert (at.number_input(key="gen_seed").value, at.slider(key="gen_steps").value) == (1234, 2)
    assert at.toggle(key="gen_public").value is True


def test_variations_make_the_same_prompt_again_with_new_seeds(studio: Studio) -> None:
    at = signed_in_page()
    at = generate(at, "a paper boat", gen_seed=9, gen_count=2)
    first = finished(at, studio)
    at.button(key=f"gen_variations_{first.id}").click().run()
    wait_done(studio, at.session_state["gen_last_batch"])
    made = rows(studio)
    assert len(made) == 4
    assert {row.prompt for row in made} == {"a paper boat"} and {row.steps for row in made} == {4}
    assert 9 not in {row.seed for row in made[2:]}, "variations never repeat the seed"
    assert at.number_input(key="gen_seed").value == 9, "the form is left as it was"


def test_an_emptied_seed_means_random(studio: Studio) -> None:
    at = signed_in_page()
    at.session_state["gen_seed"] = 7
    at.run()
    at.number_input(key="gen_seed").set_value(None).run()
    assert at.number_input(key="gen_seed").value is None
    assert "random seed" in captions(at)
    at = generate(at, "a random one")
    finished(at, studio)
    at = generate(at, "a random one")
    finished(at, studio)
    assert len({row.seed for row in rows(studio)}) == 2
    at.session_state["gen_seed"] = 3
    at.run()
    at.button(key="gen_seed_random").click().run()
    assert at.number_input(key="gen_seed").value is None


def test_values_prefilled_by_the_gallery_are_honoured(studio: Studio) -> None:
    at = AppTest.from_file(PAGE, default_timeout=30)
    seed_session(at, "ada")
    at.session_state["gen_prompt"] = "an old prompt, watercolour"
    at.session_state["gen_steps"] = 7
    at.session_state["gen_seed"] = 42
    at.run()
    assert not at.exception, at.exception
    assert at.text_area(key="gen_prompt").value == "an old prompt, watercolour"
    assert at.slider(key="gen_steps").value == 7
    assert at.number_input(key="gen_seed").value == 42
    assert "**86.4** neurons" in " ".join(m.value for m in at.markdown)


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ("", "Write a prompt first"),
        ("   \n\t ", "Write a prompt first"),
        ("x" * MAX_PROMPT_CHARS, "the limit is 2,048"),  # at the limit; the style goes past it
        ("a cat\x00 on a mat", "invisible control characters"),
        ("a cat\x1b[31m", "invisible control characters"),
    ],
    ids=["empty", "whitespace", "too-long", "nul", "escape"],
)
def test_a_bad_prompt_is_refused_with_a_reason_and_nothing_is_recorded(
    studio: Studio, prompt: str, message: str
) -> None:
    at = signed_in_page()
    at.session_state["gen_prompt"] = prompt
    at.session_state["gen_style"] = "Photograph"
    at.button(key="gen_submit").click().run()
    assert message in errors(at).replace("\\", "")
    assert "Check your prompt" in errors(at)
    assert rows(studio) == []
    assert "gen_last_batch" not in at.session_state


def test_a_pasted_prompt_over_the_limit_is_kept_and_the_excess_is_named(studio: Studio) -> None:
    at = signed_in_page()
    pasted = "y" * 2100
    at.text_area(key="gen_prompt").input(pasted).run()
    assert at.text_area(key="gen_prompt").value == pasted, "nothing is cut silently"
    warned = " ".join(w.value for w in at.warning)
    assert "2,100 characters" in warned and "Shorten it by 52" in warned
    at.button(key="gen_submit").click().run()
    assert "the limit is 2,048" in errors(at)
    assert rows(studio) == []


def test_a_style_around_an_empty_prompt_is_still_an_empty_prompt(studio: Studio) -> None:
    at = signed_in_page()
    at.session_state["gen_style"] = "Anime"
    at.button(key="gen_submit").click().run()
    assert "Write a prompt first" in errors(at)
    assert rows(studio) == []


def test_a_used_up_quota_is_refused_before_any_call_and_the_button_is_disabled(studio: Studio) -> None:
    studio.accounts.set_daily_quota("ada", 0)
    at = signed_in_page()
    assert "0 of 0 generations left today" in at.get("progress")[0].proto.text.replace("*", "")
    assert at.button(key="gen_submit").disabled is True
    assert "resets at 00:00 UTC" in captions(at)
    assert rows(studio) == []


def test_the_quota_refusal_from_the_core_is_shown_in_the_users_words(studio: Studio) -> None:
    studio.accounts.set_daily_quota("ada", 2)
    at = signed_in_page()
    at = generate(at, "the first of the day")
    first = finished(at, studio)
    assert "1 of 2 generations left today" in at.get("progress")[0].proto.text.replace("*", "")
    at = generate(at, "two more than allowed", gen_count=2)
    assert "Daily limit reached" in errors(at)
    # Variations is the other way to submit, and the core refuses it too.
    at.button(key=f"gen_variations_{first.id}").click().run()
    at.button(key=f"gen_variations_{first.id}").click().run()
    assert "used all 2 of today's generations" in errors(at).replace("\\", "")
    assert len(rows(studio)) == 2


@pytest.mark.parametrize(
    ("code", "title", "icon", "advice"),
    [
        (3030, "Refused by the safety filter", ":material/shield:", "rephrasing it"),
        (3036, "daily image allowance is used up", ":material/hourglass_bottom:", "shared by everyone"),
        (10000, "refused the studio's credentials", ":material/key_off:", "Cloudflare"),
    ],
    ids=["safety-filter", "daily-allocation", "bad-token"],
)
def test_each_provider_refusal_reads_differently(
    fake_workers_ai: FakeWorkersAI,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    code: int,
    title: str,
    icon: str,
    advice: str,
) -> None:
    for name, value in fake_workers_ai.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AKARI_MAX_RETRIES", "0")
    studio = Studio.open()
    studio.accounts.create_user("ada", PASSWORD)
    fake_workers_ai.fail_next(code)
    at = signed_in_page()
    at = generate(at, "a prompt the service refuses")
    record = finished(at, studio)

    assert record.status == "failed"
    [shown] = at.error
    assert title in shown.value and advice in shown.value.replace("\\", "")
    assert shown.icon == icon
    assert not at.image
    assert at.button(key=f"gen_variations_{record.id}") is not None
    assert not list(at.get("download_button"))


def test_an_image_shows_as_soon_as_it_is_made_while_the_upload_runs(
    studio: Studio, fresh_streamlit: list[Studio], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = signed_in_page()
    page_studio = fresh_streamlit[-1]  # the one the page opened, after the test's own
    store = page_studio.stores.current
    gate = threading.Event()
    real_save = store.save

    def slow_save(*args: object, **kwargs: object) -> object:
        gate.wait(10)
        return real_save(*args, **kwargs)

    monkeypatch.setattr(store, "save", slow_save)
    at = generate(at, "a slow upload")
    [generation_id] = at.session_state["gen_last_batch"]
    assert eventually(lambda: studio.generations.get(generation_id).spool_key is not None)
    at.run()
    assert studio.generations.get(generation_id).status == "running"
    assert len(at.image) == 1, "the image is on screen before its upload ends"
    assert "saving" in captions(at)
    gate.set()
    finished(at, studio)
    assert "saving" not in captions(at)


def test_an_image_waiting_for_upload_is_shown_with_a_badge(
    studio: Studio, fresh_streamlit: list[Studio], monkeypatch: pytest.MonkeyPatch
) -> None:
    at = signed_in_page()
    page_studio = fresh_streamlit[-1]
    monkeypatch.setattr(page_studio.stores.current, "save", _failing_save)
    at = generate(at, "a kept image")
    record = finished(at, studio)
    assert record.status == "pending_upload"
    assert len(at.image) == 1
    assert any("Uploading" in m.value for m in at.markdown)
    assert "retried in the background" in captions(at)


def _failing_save(*_args: object, **_kwargs: object) -> None:
    raise StoreError("The image store is unavailable.", detail="HTTP 503")


def test_prompts_are_shown_as_plain_text_never_markdown(studio: Studio) -> None:
    prompt = "**bold** [link](http://x.test) <b>html</b> :red[alarm] $x^2$ :material/home:"
    at = signed_in_page()
    at = generate(at, prompt)
    finished(at, studio)
    assert prompt in [t.value for t in at.text]  # the feed: st.text, never interpreted
    assert all(prompt not in m.value for m in at.markdown)


def test_download_name_comes_from_the_prompt_and_the_type_from_the_bytes() -> None:
    record = _record(prompt="A Purple Nebula, over the Mountains! at night", image_format="jpeg", id=7)
    assert download_name(record) == "a-purple-nebula-over-the-mountains-7.jpg"
    assert download_name(_record(prompt="猫 🐈", image_format="png", id=8)) == "akari-8.png"
    assert slug("../../etc/passwd") == "etc-passwd"


def _record(**changes: object) -> GenerationRecord:
    base = dict(
        id=1, user_id=1, username="ada", prompt="p", steps=4, seed=1, model="m", generator="offline", store="local",
        status="succeeded", error_reason=None, error_code=None, error_message=None, image_key=None, image_url=None,
        thumbnail_url=None, image_format="png", width=1024, height=1024, bytes=1, neurons=0.0, generate_ms=1,
        store_ms=1, is_public=False, is_favourite=False, created_at=datetime(2026, 1, 1), finished_at=None,
        deleted=False,
    )
    base.update(changes)
    return GenerationRecord(**base)  # type: ignore[arg-type]


def test_generate_with_the_fake_workers_ai_and_cloudinary(
    fake_workers_ai: FakeWorkersAI,  # noqa: F811
    fake_cloudinary: FakeCloudinary,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in fake_workers_ai.env().items():
        monkeypatch.setenv(name, value)
    for name, value in fake_cloudinary.env().items():
        monkeypatch.setenv(name, value)
    studio = Studio.open()
    studio.accounts.create_user("ada", PASSWORD)
    at = signed_in_page()
    assert "AI images by Cloudflare Workers AI" in captions(at) and "Cloudinary" not in captions(at)  # a member

    at = generate(at, "a purple nebula", gen_seed=99)
    record = finished(at, studio)
    captions_after = captions(at)
    assert record.status == "succeeded" and record.generator == "cloudflare" and record.store == "cloudinary"
    assert record.seed == 99 and record.neurons == pytest.approx(57.6)
    assert [r.json["seed"] for r in fake_workers_ai.runs()] == [99]
    [image] = at.image
    shown = studio.images.url(record, "full")
    assert shown and shown.startswith(fake_cloudinary.base_url)
    assert image.proto.imgs[0].url == shown  # the browser loads it from Cloudinary directly
    assert "Offline sketch" not in captions_after + " ".join(m.value for m in at.markdown)
    assert at.get("download_button")[0].proto.help == "Download"
    assert view.mime_type(record) == "image/jpeg" and download_name(record) == f"a-purple-nebula-{record.id}.jpg"
    with studio.sessions() as session:
        assert session.scalar(select(func.count(Generation.id))) == 1


def test_every_kind_of_failure_has_its_own_title_and_icon() -> None:
    styles = [*view.ERROR_STYLES.values(), view.DEFAULT_ERROR]
    assert len({s.title for s in styles}) == len(styles)
    assert len({s.icon for s in styles}) == len(styles)
    from akari.generators.cloudflare import ERROR_CODES

    unstyled = {reason for reason in ERROR_CODES.values() if reason not in view.ERROR_STYLES}
    assert unstyled <= {"bad_request"}, "a provider failure a user can act on needs its own title"
