"""The Gallery and Usage pages through AppTest: every widget by its key, every action, and what a member may not do."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from streamlit.testing.v1 import AppTest

from akari.accounts import Accounts
from akari.db.models import Generation, utcnow
from akari.studio import Studio
from tests.gallery_data import Viewer, add_generation, at, local_file
from tests.ui_fixtures import add_user, app, reset_streamlit, seed_session
from ui import gallery_view as gv
from ui import usage_view as uv


@pytest.fixture(autouse=True)
def fresh_streamlit(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Studio]]:
    """Empty caches (shared by every AppTest in the process) and close every studio the page opened."""
    yield from reset_streamlit(monkeypatch)


@pytest.fixture
def studio() -> Studio:
    """The test's database (AKARI_DATA_DIR is per test); the pages open their own studio on the same settings."""
    return Studio.open()


@pytest.fixture
def people(studio: Studio) -> dict[str, Viewer]:
    accounts: Accounts = studio.accounts
    return {name: Viewer(add_user(accounts, name, admin=name == "root").id) for name in ("ada", "bob", "root")}


def open_page(name: str, username: str, **query_params: str) -> AppTest:
    """The page, reached through app.py's navigation as a signed-in user, seeded the way the sign-in leaves the
    session (the guard still reads the account from the database)."""
    page = app("app.py")
    seed_session(page, username)
    rerun(page)
    page.switch_page(f"pages/{name}.py")
    for key, value in query_params.items():
        page.query_params[key] = value
    return rerun(page)


def rerun(page: AppTest) -> AppTest:
    page.run()
    assert not page.exception, page.exception
    return page


def unescaped(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def has_key(page: AppTest, key: str) -> bool:
    try:
        page.get_by_key(key)
    except KeyError:
        return False
    return True


def card_ids(page: AppTest) -> list[int]:
    return [int(b.key.removeprefix(gv.OPEN_PREFIX)) for b in page.button if (b.key or "").startswith(gv.OPEN_PREFIX)]


def stored(studio: Studio, generation_id: int) -> Generation:
    with studio.sessions() as session:
        return session.get(Generation, generation_id)


# -- the grid --------------------------------------------------------------------------------------------------------
def test_the_grid_shows_my_thumbnails_with_prompts_as_plain_text(studio: Studio, people) -> None:
    ada = people["ada"]
    first = add_generation(studio, ada, "a **bold** <b>cat</b> [link](http://x) :material/home:", stored=True,
                           created_at=at(2))
    second = add_generation(studio, ada, "a lighthouse", stored=True, created_at=at(1))
    add_generation(studio, ada, "refused prompt", status="failed", error_message="The safety filter refused it.")
    add_generation(studio, people["bob"], "bob's", stored=True)

    page = open_page("gallery", "ada")
    assert card_ids(page) == [second, first]
    assert len(page.image) == 2 and all(img.value[0].startswith("/mock/media/") for img in page.image)
    # st.text: Markdown, HTML and icon codes show exactly as typed.
    assert "a **bold** <b>cat</b> [link](http://x) :material/home:" in [t.value for t in page.main.text]
    assert all("<b>cat</b>" not in m.value for m in page.main.markdown)


def test_community_shows_what_anyone_shared_with_who_made_it(studio: Studio, people) -> None:
    sketch = add_generation(studio, people["ada"], "ada's sketch", stored=True, is_public=True, generator="offline",
                            created_at=at(3))
    shared = add_generation(studio, people["bob"], "bob's shared harbour", stored=True, is_public=True)
    add_generation(studio, people["bob"], "bob's private", stored=True)
    page = open_page("gallery", "ada")
    page.segmented_control(key=gv.SCOPE_KEY).set_value("Community")
    rerun(page)
    assert card_ids(page) == [shared, sketch]
    texts = [t.value for t in page.main.text]
    assert "bob: bob's shared harbour" in texts and "ada: ada's sketch" in texts
    assert [m.value for m in page.main.markdown if "Sketch, not AI" in m.value], "the one sketch has its badge"
    assert page.toggle(key=gv.FAVOURITES_KEY).disabled


def test_search_and_filters_narrow_the_grid(studio: Studio, people) -> None:
    ada = people["ada"]
    lighthouse = add_generation(studio, ada, "a lighthouse at dusk", stored=True, steps=4, created_at=at(6))
    fox = add_generation(studio, ada, "a red fox", stored=True, steps=8, is_favourite=True, created_at=at(3))
    sketch = add_generation(studio, ada, "lighthouse sketch", stored=True, steps=2, generator="offline",
                            created_at=at(1))
    page = open_page("gallery", "ada")
    page.text_input(key=gv.SEARCH_KEY).input("lighthouse")
    assert card_ids(rerun(page)) == [sketch, lighthouse]
    page.text_input(key=gv.SEARCH_KEY).input("")
    page.toggle(key=gv.FAVOURITES_KEY).set_value(True)
    assert card_ids(rerun(page)) == [fox]
    page.toggle(key=gv.FAVOURITES_KEY).set_value(False)
    page.pills(key=gv.STEPS_KEY).set_value([2, 4])
    assert card_ids(rerun(page)) == [sketch, lighthouse]
    page.segmented_control(key=gv.GENERATOR_KEY).set_value("Offline sketch")
    assert card_ids(rerun(page)) == [sketch]
    page.pills(key=gv.STEPS_KEY).set_value([])
    page.segmented_control(key=gv.GENERATOR_KEY).set_value(None)
    today = utcnow().date()
    page.date_input(key=gv.DATES_KEY).set_value((today - timedelta(days=4), today - timedelta(days=2)))
    assert card_ids(rerun(page)) == [fox]
    page.date_input(key=gv.DATES_KEY).set_value(())
    page.segmented_control(key=gv.SORT_KEY).set_value("Oldest first")
    assert card_ids(rerun(page)) == [lighthouse, fox, sketch]
    page.text_input(key=gv.SEARCH_KEY).input("zebra")
    assert card_ids(rerun(page)) == [] and page.info[0].value == "No images match these filters."


def test_older_and_newer_page_through_the_gallery(studio: Studio, people) -> None:
    made = [add_generation(studio, people["ada"], f"picture {i}", stored=i >= 24,
                           created_at=at(1) + timedelta(minutes=i)) for i in range(30)]
    page = open_page("gallery", "ada")
    assert card_ids(page) == list(reversed(made))[:24] and page.button(key=gv.PREVIOUS_KEY).disabled
    page.button(key=gv.NEXT_KEY).click()
    assert card_ids(rerun(page)) == list(reversed(made))[24:]
    assert page.button(key=gv.NEXT_KEY).disabled and "25–30 of 30 · page 2" in [c.value for c in page.caption]
    assert (page.button(key=gv.PREVIOUS_KEY).label, page.button(key=gv.NEXT_KEY).label) == ("Newer", "Older")
    page.button(key=gv.PREVIOUS_KEY).click()
    assert card_ids(rerun(page)) == list(reversed(made))[:24]
    page.button(key=gv.NEXT_KEY).click()
    rerun(page)
    page.text_input(key=gv.SEARCH_KEY).input("picture")  # a new search starts again at the first page
    assert card_ids(rerun(page)) == list(reversed(made))[:24]
    page.segmented_control(key=gv.SORT_KEY).set_value("Oldest first")
    assert card_ids(rerun(page)) == made[:24]
    # Oldest first, the next page holds newer images, and says so.
    assert (page.button(key=gv.PREVIOUS_KEY).label, page.button(key=gv.NEXT_KEY).label) == ("Older", "Newer")
    assert "1–24 of 30 · page 1" in [c.value for c in page.caption]


def test_an_active_filter_shows_as_a_chip_that_removes_it(studio: Studio, people) -> None:
    ada = people["ada"]
    fox = add_generation(studio, ada, "a red fox", stored=True, steps=8, created_at=at(2))
    kite = add_generation(studio, ada, "a red kite", stored=True, steps=2, created_at=at(1))
    page = open_page("gallery", "ada")
    assert not [b for b in page.button if (b.key or "").startswith(gv.CHIP_PREFIX)]
    page.text_input(key=gv.SEARCH_KEY).input("red")
    page.pills(key=gv.STEPS_KEY).set_value([8])
    rerun(page)
    assert card_ids(page) == [fox]
    chips = {b.key: unescaped(b.label) for b in page.button if (b.key or "").startswith(gv.CHIP_PREFIX)}
    assert chips == {f"{gv.CHIP_PREFIX}{gv.SEARCH_KEY}": "Search: red", f"{gv.CHIP_PREFIX}{gv.STEPS_KEY}": "Steps 8"}
    page.button(key=f"{gv.CHIP_PREFIX}{gv.STEPS_KEY}").click()
    rerun(page)
    assert card_ids(page) == [kite, fox] and page.pills(key=gv.STEPS_KEY).value == []
    assert page.text_input(key=gv.SEARCH_KEY).value == "red"


def test_filters_and_search_come_from_the_address(studio: Studio, people) -> None:
    ada = people["ada"]
    fox = add_generation(studio, ada, "a red fox", stored=True, created_at=at(2))
    add_generation(studio, ada, "a harbour", stored=True, created_at=at(1))
    page = open_page("gallery", "ada", q="fox")
    assert page.text_input(key=gv.SEARCH_KEY).value == "fox"
    assert card_ids(page) == [fox]


def test_an_image_waiting_for_upload_leads_the_grid_with_a_badge(studio: Studio, people) -> None:
    ada = people["ada"]
    done = add_generation(studio, ada, "stored already", stored=True, created_at=at(2))
    waiting = add_generation(studio, ada, "waiting prompt", status="pending_upload", error_reason="store_failed",
                             error_message="Your image was made but could not be saved yet.")
    page = open_page("gallery", "ada")
    assert card_ids(page) == [waiting, done]
    assert [m.value for m in page.main.markdown if "Waiting for upload" in m.value]


def test_the_lightbox_steps_to_the_previous_and_next_image_of_the_grid(studio: Studio, people) -> None:
    made = [add_generation(studio, people["ada"], f"picture {i}", stored=True, created_at=at(1, hour=i))
            for i in range(3)]
    page = open_page("gallery", "ada")
    page.button(key=f"{gv.OPEN_PREFIX}{made[1]}").click()
    rerun(page)
    assert page.code[0].value == "picture 1" and "2 of 3 on this page" in [c.value for c in page.caption]
    page.button(key=gv.DETAIL_NEXT_KEY).click()
    rerun(page)
    assert page.query_params[gv.DETAIL_PARAM] == str(made[0]) and page.code[0].value == "picture 0"
    assert page.button(key=gv.DETAIL_NEXT_KEY).disabled
    page.button(key=gv.DETAIL_PREVIOUS_KEY).click()
    rerun(page)
    assert page.code[0].value == "picture 1"


# -- the detail dialog -----------------------------------------------------------------------------------------------
def test_opening_an_image_shows_it_with_its_prompt_settings_and_actions(studio: Studio, people) -> None:
    mine = add_generation(studio, people["ada"], "a lighthouse *at* dusk", stored=True, steps=6, seed=4242,
                          generate_ms=1830, store_ms=41)
    page = open_page("gallery", "ada")
    page.button(key=f"{gv.OPEN_PREFIX}{mine}").click()
    rerun(page)
    assert page.query_params[gv.DETAIL_PARAM] == str(mine)
    assert page.code[0].value == "a lighthouse *at* dusk"
    facts = page.markdown[-1].value
    assert "| Steps | 6 |" in facts and "| Seed | 4242 |" in facts and "1.83 s to generate + 0.04 s" in facts
    for key in (gv.DETAIL_DOWNLOAD_KEY, gv.DETAIL_REUSE_KEY, gv.DETAIL_SHARE_KEY, gv.DETAIL_FAVOURITE_KEY,
                gv.DETAIL_DELETE_KEY):
        assert has_key(page, key), key
    assert len(page.image) == 2  # the thumbnail in the grid and the full image in the dialog


def test_a_link_with_an_id_opens_that_image(studio: Studio, people) -> None:
    shared = add_generation(studio, people["bob"], "bob's harbour", stored=True, is_public=True)
    page = open_page("gallery", "ada", id=str(shared))
    assert page.code[0].value == "bob's harbour"
    # Someone else's image: it can be looked at, downloaded and run again, not changed.
    assert has_key(page, gv.DETAIL_DOWNLOAD_KEY)
    assert has_key(page, gv.DETAIL_REUSE_KEY)
    for key in (gv.DETAIL_SHARE_KEY, gv.DETAIL_FAVOURITE_KEY, gv.DETAIL_DELETE_KEY):
        assert not has_key(page, key)


def test_a_link_to_a_private_image_of_someone_else_shows_nothing_of_it(studio: Studio, people) -> None:
    private = add_generation(studio, people["bob"], "bob's secret", stored=True)
    page = open_page("gallery", "ada", id=str(private))
    assert not page.code and "not shared" in page.warning[0].value
    assert gv.DETAIL_PARAM not in page.query_params
    page = open_page("gallery", "ada", id="not-a-number")
    assert unescaped(page.warning[0].value) == "That link does not point to an image."


def test_share_favourite_and_delete_from_the_dialog(studio: Studio, people) -> None:
    mine = add_generation(studio, people["ada"], "mine", stored=True)
    page = open_page("gallery", "ada", id=str(mine))
    page.button(key=gv.DETAIL_SHARE_KEY).click()
    rerun(page)
    assert stored(studio, mine).is_public and page.button(key=gv.DETAIL_SHARE_KEY).label == "Unshare"
    assert unescaped(page.success[0].value) == "Shared with the community."
    page.button(key=gv.DETAIL_FAVOURITE_KEY).click()
    rerun(page)
    assert stored(studio, mine).is_favourite and page.button(key=gv.DETAIL_FAVOURITE_KEY).label == "Unfavourite"

    original = local_file(studio, mine)
    page.button(key=gv.DETAIL_DELETE_KEY).click()
    rerun(page)
    assert stored(studio, mine).deleted_at is None and "for good" in page.warning[0].value
    page.button(key=gv.DETAIL_DELETE_CONFIRM_KEY).click()
    rerun(page)
    assert stored(studio, mine).deleted_at is not None and not original.exists()
    assert card_ids(page) == [] and gv.DETAIL_PARAM not in page.query_params
    assert unescaped(page.success[0].value) == "Image deleted."


def test_crafted_state_cannot_delete_someone_elses_image(studio: Studio, people) -> None:
    shared = add_generation(studio, people["bob"], "bob's shared", stored=True, is_public=True)
    page = open_page("gallery", "ada")
    page.session_state[gv.CONFIRM_DELETE_KEY] = shared
    page.session_state[gv.SELECTED_KEY] = [shared]
    page.session_state[gv.SELECT_MODE_KEY] = True
    page.query_params[gv.DETAIL_PARAM] = str(shared)
    rerun(page)
    assert not has_key(page, gv.DETAIL_DELETE_CONFIRM_KEY)
    page.segmented_control(key=gv.SCOPE_KEY).set_value("Mine")
    rerun(page)
    page.button(key=gv.BULK_DELETE_KEY).click()
    rerun(page)
    page.button(key=gv.BULK_DELETE_CONFIRM_KEY).click()
    rerun(page)
    assert "only change or delete your own" in page.error[0].value
    row = stored(studio, shared)
    assert row.deleted_at is None and row.is_public and local_file(studio, row.id).exists()


def test_reuse_settings_fills_the_generate_form_and_goes_there(studio: Studio, people) -> None:
    mine = add_generation(studio, people["ada"], "a lighthouse at dusk", stored=True, steps=7, seed=99)
    page = open_page("gallery", "ada", id=str(mine))
    page.button(key=gv.DETAIL_REUSE_KEY).click()
    rerun(page)
    assert page.session_state["gen_prompt"] == "a lighthouse at dusk"
    assert page.session_state["gen_steps"] == 7 and page.session_state["gen_seed"] == 99
    assert page.text_area(key="gen_prompt").value == "a lighthouse at dusk"


# -- selection and bulk actions ------------------------------------------------------------------------------------
def test_select_several_then_download_or_delete_them(studio: Studio, people) -> None:
    made = [add_generation(studio, people["ada"], f"picture {i}", stored=True, created_at=at(1, hour=i))
            for i in range(3)]
    page = open_page("gallery", "ada")
    assert not has_key(page, gv.ZIP_KEY)
    page.toggle(key=gv.SELECT_MODE_KEY).set_value(True)
    rerun(page)
    page.checkbox(key=f"{gv.PICK_PREFIX}{made[0]}").check()
    page.checkbox(key=f"{gv.PICK_PREFIX}{made[2]}").check()
    rerun(page)
    assert sorted(page.session_state[gv.SELECTED_KEY]) == [made[0], made[2]]
    assert has_key(page, gv.ZIP_KEY)
    assert page.button(key=gv.BULK_DELETE_KEY).label == "Delete 2"
    page.button(key=gv.BULK_DELETE_KEY).click()
    rerun(page)
    page.button(key=gv.BULK_DELETE_CANCEL_KEY).click()
    rerun(page)
    assert all(stored(studio, i).deleted_at is None for i in made)
    page.button(key=gv.BULK_DELETE_KEY).click()
    rerun(page)
    page.button(key=gv.BULK_DELETE_CONFIRM_KEY).click()
    rerun(page)
    assert [stored(studio, i).deleted_at is not None for i in made] == [True, False, True]
    assert has_key(page, f"{gv.PICK_PREFIX}{made[1]}")
    assert not has_key(page, f"{gv.PICK_PREFIX}{made[0]}")
    assert unescaped(page.success[0].value) == "Deleted 2 images."
    assert page.session_state[gv.SELECTED_KEY] == []


def test_the_zip_is_built_from_what_the_viewer_may_see(studio: Studio, people) -> None:
    mine = add_generation(studio, people["ada"], "mine", stored=True)
    private = add_generation(studio, people["bob"], "bob's", stored=True)
    from akari.gallery import Gallery

    gallery = Gallery(studio)
    assert gv._zip_bytes(gallery, people["ada"], (mine,))[:2] == b"PK"
    refused = gv._zip_bytes(gallery, people["ada"], (mine, private))
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(refused)) as archive:
        assert archive.namelist() == ["README.txt"]


def test_recent_failures_list_reasons(studio: Studio, people) -> None:
    add_generation(studio, people["ada"], "refused prompt", status="failed", error_reason="safety_filter",
                   error_message="The safety filter refused this prompt.")
    add_generation(studio, people["ada"], "waiting prompt", status="pending_upload", error_reason="store_failed",
                   error_message="Your image was made but could not be saved yet.")
    page = open_page("gallery", "ada")
    closed = next(e for e in page.expander if e.label == "Recent failures")
    assert not closed.text, "a closed list is not read"
    page.session_state[gv.FAILURES_OPEN_KEY] = True
    failures = next(e for e in rerun(page).expander if e.label == "Recent failures")
    texts = [t.value for t in failures.text]
    assert "refused prompt" in texts and "The safety filter refused this prompt." in texts
    assert any(c.value.endswith("Failed · safety filter") for c in failures.caption), "the reason in words"
    assert "waiting prompt" in texts
    page.pills(key=gv.FAILURE_STATUS_KEY).set_value(["Failed"])
    failures = next(e for e in rerun(page).expander if e.label == "Recent failures")
    texts = [t.value for t in failures.text]
    assert "refused prompt" in texts and "waiting prompt" not in texts


def test_a_signed_out_visitor_sees_no_gallery(studio: Studio, people) -> None:
    add_generation(studio, people["ada"], "private", stored=True)
    page = rerun(app("app.py"))
    page.switch_page("pages/gallery.py")
    rerun(page)
    assert not page.image and not has_key(page, gv.SEARCH_KEY)
    page = rerun(app("pages/gallery.py"))  # the page file on its own, without app.py, is gated too
    assert not page.image and not has_key(page, gv.SEARCH_KEY)


# -- usage -----------------------------------------------------------------------------------------------------------
@pytest.fixture
def history(studio: Studio, people) -> None:
    ada, bob = people["ada"], people["bob"]
    add_generation(studio, ada, "ada old", created_at=at(60), neurons=57.6)
    for i in range(6):
        add_generation(studio, ada, f"ada {i}", created_at=utcnow() - timedelta(minutes=15 - i), steps=4,
                       neurons=57.6, generate_ms=1210 + 10 * i, store_ms=0)
    add_generation(studio, ada, "ada refused", status="failed", error_reason="safety_filter", neurons=0.0,
                   created_at=utcnow() - timedelta(minutes=1))
    for i in range(3):
        add_generation(studio, bob, f"bob {i}", created_at=at(2), steps=8, neurons=96.0, generate_ms=3000,
                       store_ms=0)


def metrics(page: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in page.metric}


def charts(page: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in page.get("arrow_vega_lite_chart")] or \
        [json.loads(chart.proto.spec) for chart in page.get("vega_lite_chart")]


def test_a_member_sees_their_own_usage(studio: Studio, history) -> None:
    page = open_page("usage", "ada")
    figures = metrics(page)
    assert figures["Generations"] == "7"
    assert figures["Success rate"] == f"{6 / 7:.1%}"
    assert figures["Median time to image"] == "1.2 s"  # six between 1210 and 1260 ms
    assert figures["Estimated neurons"] == f"{6 * 57.6:,.0f}"
    assert figures["Estimated cost"] == f"${6 * 57.6 * 0.011 / 1000:,.2f}"
    assert figures["Today's quota used"] == "6 / 200"
    assert "After the free allowance" not in figures
    assert not has_key(page, uv.USER_KEY)
    assert has_key(page, uv.EXPORT_KEY) and not page.get_by_key(uv.EXPORT_KEY).disabled
    assert len(charts(page)) == 5  # per day, cost per day, time to image, failure reasons, steps; no per-user
    page.pills(key=uv.RANGE_KEY).set_value("90 days")
    assert metrics(rerun(page))["Generations"] == "8"


def test_an_admin_sees_everyone_and_can_pick_a_person(studio: Studio, history, people) -> None:
    page = open_page("usage", "root")
    figures = metrics(page)
    assert figures["Generations"] == "10" and figures["Today"] == "6" and len(charts(page)) == 6
    assert "After the free allowance" in figures
    assert len(page.dataframe) == 1 and list(page.dataframe[0].value["user"]) == ["ada", "bob"]
    picker = page.selectbox(key=uv.USER_KEY)
    assert picker.options == ["Everyone", "ada", "bob", "root"]
    picker.select(people["bob"].id)
    figures = metrics(rerun(page))
    assert figures["Generations"] == "3" and figures["Median time to image"] == "3.0 s"
    assert figures["Today's quota used"] == "0 / 200"
    assert not page.dataframe


def test_a_custom_period_asks_for_both_dates(studio: Studio, history) -> None:
    page = open_page("usage", "ada")
    page.pills(key=uv.RANGE_KEY).set_value("Custom")
    rerun(page)
    today = utcnow().date()
    page.date_input(key=uv.DATES_KEY).set_value((today - timedelta(days=70), today - timedelta(days=50)))
    assert metrics(rerun(page))["Generations"] == "1"
    page.date_input(key=uv.DATES_KEY).set_value((today - timedelta(days=3),))
    assert not metrics(rerun(page)) and page.main.caption[-1].value == "Pick the last day too."


def test_the_csv_export_holds_the_filtered_log(studio: Studio, history, people) -> None:
    from akari.usage import Usage, UsageFilter

    data = uv._csv_bytes(Usage(studio), people["ada"].id, UsageFilter.last_days(30, people["ada"].id)).decode()
    lines = data.strip().splitlines()
    assert lines[0].startswith("id,created_at,user,status,prompt") and len(lines) == 8
    refused = uv._csv_bytes(Usage(studio), people["ada"].id, UsageFilter.last_days(30, people["bob"].id))
    assert refused == b"Only administrators can see other people's usage."


def test_usage_figures_are_cached_briefly(studio: Studio, history, people) -> None:
    page = open_page("usage", "ada")
    add_generation(studio, people["ada"], "one more", created_at=utcnow() - timedelta(minutes=2))
    assert metrics(rerun(page))["Generations"] == "7"  # within the cache's 30 seconds
    uv.usage_report.clear()
    assert metrics(rerun(page))["Generations"] == "8"


def test_charts_cover_the_whole_period_with_whole_numbers_and_only_the_statuses_there_are(studio: Studio,
                                                                                          history) -> None:
    page = open_page("usage", "ada")
    per_day, cost = charts(page)[:2]
    days = per_day["encoding"]["x"]["scale"]["domain"]
    today = utcnow().date()
    assert days[0] == (today - timedelta(days=29)).isoformat() and days[-1] == today.isoformat() and len(days) == 30
    assert per_day["encoding"]["y"]["axis"]["tickMinStep"] == 1 and per_day["encoding"]["y"]["axis"]["format"] == ",d"
    assert per_day["encoding"]["color"]["scale"]["domain"] == ["Succeeded", "Failed"]  # no Queued, no Running
    assert cost["encoding"]["x"]["scale"]["domain"] == days
    page.pills(key=uv.RANGE_KEY).set_value("1 year")
    year = charts(rerun(page))[0]["encoding"]["x"]["scale"]["domain"]
    assert len(year) == 365 and year[0] == (today - timedelta(days=364)).isoformat()


def test_each_figure_is_compared_with_the_period_before(studio: Studio, history, people) -> None:
    for i in range(3):
        add_generation(studio, people["ada"], f"ada before {i}", created_at=at(40 + i), neurons=57.6)
    page = open_page("usage", "ada")
    deltas = {m.label: m.proto.delta for m in page.metric}
    assert deltas["Generations"] == "+4"  # 7 now, 3 in the 30 days before
    assert "30 days before" in " ".join(c.value for c in page.main.caption)


def test_the_csv_is_written_with_progress_then_downloaded(studio: Studio, history) -> None:
    page = open_page("usage", "ada")
    assert not has_key(page, uv.EXPORT_DOWNLOAD_KEY)
    page.button(key=uv.EXPORT_KEY).click()
    rerun(page)
    assert "7 rows written." in [p.proto.text for p in page.get("progress")]
    assert has_key(page, uv.EXPORT_DOWNLOAD_KEY)
    page.pills(key=uv.RANGE_KEY).set_value("90 days")
    rerun(page)
    assert not has_key(page, uv.EXPORT_DOWNLOAD_KEY), "a CSV of another period is never offered"
