"""The gallery core: paging in SQL, search and filters, who may see and change what, ZIPs, failures, migration."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text

from akari.db import migrate
from akari.db.engine import make_engine
from akari.db.models import Generation, User, utcnow
from akari.errors import InvalidInput, NotFound, PermissionDenied
from akari.exports import MAX_ZIP_IMAGES, zip_images
from akari.gallery import Gallery, GalleryQuery, search_words
from akari.prompts import GenerationRequest
from akari.studio import Studio
from tests import gallery_data
from tests.gallery_data import Viewer, add_generation, add_user, at, generate_now, local_file, row

# The shared fixtures: a studio on SQLite and on this module's own PostgreSQL database.
postgres_database = gallery_data.postgres_database
database_url = gallery_data.database_url
studio = gallery_data.studio


def ids(gallery: Gallery, viewer: Viewer, **query: object) -> list[int]:
    return [r.id for r in gallery.page(viewer, GalleryQuery(**query)).items]  # type: ignore[arg-type]


@pytest.fixture
def people(studio: Studio) -> tuple[Viewer, Viewer, Viewer]:
    return add_user(studio, "ada"), add_user(studio, "bob"), add_user(studio, "root", admin=True)


# -- what each gallery shows ---------------------------------------------------------------------------------------
def test_mine_has_my_finished_images_newest_first_and_community_has_what_anyone_shared(studio, people) -> None:
    ada, bob, _root = people
    old = add_generation(studio, ada, "an old lighthouse", created_at=at(3))
    new_shared = add_generation(studio, ada, "a new lighthouse", created_at=at(1), is_public=True)
    add_generation(studio, ada, "refused", status="failed")
    add_generation(studio, ada, "still running", status="running")
    add_generation(studio, ada, "waiting", status="pending_upload")
    add_generation(studio, ada, "gone", deleted_at=utcnow(), is_public=True)
    bobs_private = add_generation(studio, bob, "bob's secret", created_at=at(2))
    bobs_shared = add_generation(studio, bob, "bob's cat", created_at=at(2), is_public=True)
    gallery = Gallery(studio)

    assert ids(gallery, ada) == [new_shared, old]
    assert ids(gallery, ada, sort="oldest") == [old, new_shared]
    assert ids(gallery, bob) == [bobs_shared, bobs_private]
    assert ids(gallery, ada, scope="community") == [bobs_shared, new_shared]
    assert ids(gallery, bob, scope="community") == ids(gallery, ada, scope="community")
    [record] = gallery.page(bob, GalleryQuery(scope="community", search="new")).items
    assert record.username == "ada" and record.prompt == "a new lighthouse"


def test_pages_follow_each_other_without_gaps_or_repeats_and_read_one_page_of_rows(studio, people) -> None:
    ada = people[0]
    made = [add_generation(studio, ada, f"picture {i}", created_at=at(0.5, hour=0) + timedelta(seconds=i))
            for i in range(23)]
    gallery = Gallery(studio)
    statements: list[tuple[str, object]] = []

    def remember(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append((statement, parameters))

    event.listen(studio.engine, "before_cursor_execute", remember)
    seen: list[int] = []
    after = None
    pages = 0
    while True:
        page = gallery.page(ada, GalleryQuery(limit=5, after=after))
        seen += [r.id for r in page.items]
        pages += 1
        if page.next_after is None:
            break
        after = page.next_after
    event.remove(studio.engine, "before_cursor_execute", remember)

    assert seen == list(reversed(made)) and pages == 5
    # Every page is one query with LIMIT 6 (a page and one row to know there is more), whatever the table holds.
    statements = [(sql, params) for sql, params in statements if not sql.startswith("BEGIN")]
    assert len(statements) == pages
    assert all("LIMIT" in sql.upper() for sql, _ in statements)
    assert all(6 in (params.values() if isinstance(params, dict) else params) for _, params in statements)

    oldest = []
    after = None
    while True:
        page = gallery.page(ada, GalleryQuery(limit=7, after=after, sort="oldest"))
        oldest += [r.id for r in page.items]
        if page.next_after is None:
            break
        after = page.next_after
    assert oldest == made


# -- search and filters --------------------------------------------------------------------------------------------
@pytest.fixture
def catalogue(studio: Studio, people) -> dict[str, int]:
    ada, bob, _root = people
    return {
        "lighthouse": add_generation(studio, ada, "A Lighthouse on a cliff at dusk", created_at=at(10), steps=4),
        "fox": add_generation(studio, ada, "a red fox in the snow", created_at=at(5), steps=8, is_favourite=True),
        "sketch": add_generation(studio, ada, "lighthouse sketch, pencil", created_at=at(2), steps=2,
                                 generator="offline", model="akari-offline-sketch-v1", neurons=0.0),
        "nebula": add_generation(studio, ada, "purple nebula over the lighthouse", created_at=at(1), steps=8,
                                 is_favourite=True, is_public=True),
        "bob": add_generation(studio, bob, "bob's lighthouse", created_at=at(1), is_public=True),
    }


def test_search_finds_every_word_in_any_case_and_the_last_word_may_be_unfinished(studio, people, catalogue) -> None:
    ada = people[0]
    gallery = Gallery(studio)
    c = catalogue
    assert ids(gallery, ada, search="lighthouse") == [c["nebula"], c["sketch"], c["lighthouse"]]
    assert ids(gallery, ada, search="LIGHTHOUSE cliff") == [c["lighthouse"]]
    assert ids(gallery, ada, search="light") == [c["nebula"], c["sketch"], c["lighthouse"]]
    assert ids(gallery, ada, search="lighthouse, neb") == [c["nebula"]]
    assert ids(gallery, ada, search="fox snow") == [c["fox"]]
    assert ids(gallery, ada, search="fox lighthouse") == []
    assert ids(gallery, ada, search="zebra") == []
    assert ids(gallery, ada, scope="community", search="lighthouse") == [c["nebula"], c["bob"]] or \
        ids(gallery, ada, scope="community", search="lighthouse") == [c["bob"], c["nebula"]]
    assert ids(gallery, ada, search="   ") == ids(gallery, ada)


@pytest.mark.parametrize("typed", ['"', "NEAR(", "fox OR", "AND", "*", "lighthouse)", "-fox", "^light", "a:b",
                                   "it's", "fox & |", "'; DROP TABLE generations; --"])
def test_search_operators_and_quotes_are_just_words(studio, people, catalogue, typed: str) -> None:
    page = Gallery(studio).page(people[0], GalleryQuery(search=typed))
    assert isinstance(page.items, list)
    with studio.sessions() as session:
        assert session.query(Generation).count() == len(catalogue)


def test_search_words_drop_punctuation() -> None:
    assert search_words("Lighthouse, at DUSK! (oil)") == ["lighthouse", "at", "dusk", "oil"]
    assert search_words("snake_case") == ["snake", "case"]
    assert search_words("") == []


def test_filters_narrow_the_gallery_and_combine_with_search(studio, people, catalogue) -> None:
    ada = people[0]
    gallery = Gallery(studio)
    c = catalogue
    assert ids(gallery, ada, favourites_only=True) == [c["nebula"], c["fox"]]
    assert ids(gallery, ada, steps=(8,)) == [c["nebula"], c["fox"]]
    assert ids(gallery, ada, steps=(2, 4)) == [c["sketch"], c["lighthouse"]]
    assert ids(gallery, ada, generator="offline") == [c["sketch"]]
    assert ids(gallery, ada, generator="cloudflare", search="lighthouse") == [c["nebula"], c["lighthouse"]]
    today = utcnow().date()
    assert ids(gallery, ada, date_from=today - timedelta(days=5), date_to=today - timedelta(days=2)) == [
        c["sketch"], c["fox"]]
    assert ids(gallery, ada, date_from=today - timedelta(days=2)) == [c["nebula"], c["sketch"]]
    assert ids(gallery, ada, date_to=today - timedelta(days=10)) == [c["lighthouse"]]
    assert ids(gallery, ada, search="lighthouse", favourites_only=True, steps=(8,),
               date_from=today - timedelta(days=1)) == [c["nebula"]]
    with pytest.raises(InvalidInput):
        gallery.page(ada, GalleryQuery(date_from=today, date_to=today - timedelta(days=1)))
    with pytest.raises(InvalidInput):
        gallery.page(ada, GalleryQuery(scope="everyone"))  # type: ignore[arg-type]


def test_search_follows_the_table_as_images_are_made_and_removed(studio, people) -> None:
    ada = people[0]
    gallery = Gallery(studio)
    made = generate_now(studio, ada.id, GenerationRequest(prompt="a violet owl in a library"))
    assert made.status == "succeeded"
    assert ids(gallery, ada, search="owl library") == [made.id]
    with studio.sessions.begin() as session:
        session.execute(text("UPDATE generations SET prompt = 'a green frog' WHERE id = :id"), {"id": made.id})
    assert ids(gallery, ada, search="owl") == []
    assert ids(gallery, ada, search="frog") == [made.id]
    with studio.sessions.begin() as session:
        session.execute(text("DELETE FROM generations WHERE id = :id"), {"id": made.id})
    assert ids(gallery, ada, search="frog") == []


# -- detail and permissions ------------------------------------------------------------------------------------------
def test_detail_shows_my_images_shared_ones_and_everything_to_an_admin(studio, people) -> None:
    ada, bob, root = people
    private = add_generation(studio, ada, "private")
    shared = add_generation(studio, ada, "shared", is_public=True)
    failed = add_generation(studio, ada, "refused", status="failed", error_message="The safety filter refused it.")
    deleted = add_generation(studio, ada, "gone", deleted_at=utcnow())
    gallery = Gallery(studio)

    assert gallery.detail(ada, private).prompt == "private"
    assert gallery.detail(ada, failed).error_message == "The safety filter refused it."
    assert gallery.detail(bob, shared).username == "ada"
    for hidden in (private, failed, deleted, 10_000):
        with pytest.raises(NotFound):
            gallery.detail(bob, hidden)
    assert gallery.detail(root, private).prompt == "private"
    with pytest.raises(NotFound):
        gallery.detail(root, deleted)


def test_a_member_cannot_change_or_delete_another_members_image(studio, people) -> None:
    ada, bob, _root = people
    gallery = Gallery(studio)
    shared = add_generation(studio, ada, "ada's shared", stored=True, is_public=True)
    private = add_generation(studio, ada, "ada's private", stored=True)
    bobs = add_generation(studio, bob, "bob's own", stored=True)
    before = {i: (row(studio, i).is_public, row(studio, i).is_favourite, row(studio, i).deleted_at)
              for i in (shared, private)}

    for target in (shared, private):
        with pytest.raises(PermissionDenied):
            gallery.set_shared(bob, target, False)
        with pytest.raises(PermissionDenied):
            gallery.set_favourite(bob, target, True)
        with pytest.raises(PermissionDenied):
            gallery.delete(bob, target)
    with pytest.raises(PermissionDenied):
        gallery.delete_many(bob, [bobs, shared])

    assert {i: (row(studio, i).is_public, row(studio, i).is_favourite, row(studio, i).deleted_at)
            for i in (shared, private)} == before
    for generation_id in (shared, private, bobs):
        assert local_file(studio, generation_id).exists()
        assert row(studio, generation_id).deleted_at is None
    assert not gallery.can_change(bob, gallery.detail(bob, shared))


def test_the_owner_shares_favourites_and_deletes_and_the_files_go_too(studio, people) -> None:
    ada, bob, _root = people
    gallery = Gallery(studio)
    mine = add_generation(studio, ada, "mine", stored=True)
    assert gallery.can_change(ada, gallery.detail(ada, mine))
    assert gallery.set_shared(ada, mine, True).is_public
    assert gallery.detail(bob, mine).is_public
    assert gallery.set_favourite(ada, mine, True).is_favourite
    assert ids(gallery, ada, favourites_only=True) == [mine]
    assert not gallery.set_shared(ada, mine, False).is_public
    with pytest.raises(NotFound):
        gallery.detail(bob, mine)

    original, thumbnail = local_file(studio, mine), local_file(studio, mine, "thumb")
    gallery.delete(ada, mine)
    assert not original.exists() and not thumbnail.exists()
    assert row(studio, mine).deleted_at is not None
    assert ids(gallery, ada) == []
    with pytest.raises(NotFound):
        gallery.delete(ada, mine)


def test_an_admin_may_remove_anyones_image_but_bulk_delete_is_for_ones_own(studio, people) -> None:
    ada, _bob, root = people
    gallery = Gallery(studio)
    shared = add_generation(studio, ada, "unwelcome", stored=True, is_public=True)
    other = add_generation(studio, ada, "another", stored=True, is_public=True)
    assert gallery.can_change(root, gallery.detail(root, shared))
    gallery.set_shared(root, other, False)
    gallery.delete(root, shared)
    assert row(studio, shared).deleted_at is not None
    with pytest.raises(PermissionDenied):
        gallery.delete_many(root, [other])
    assert row(studio, other).deleted_at is None


def test_bulk_delete_removes_several_of_my_images(studio, people) -> None:
    ada = people[0]
    gallery = Gallery(studio)
    picked = [add_generation(studio, ada, f"picked {i}", stored=True) for i in range(3)]
    kept = add_generation(studio, ada, "kept", stored=True)
    assert gallery.delete_many(ada, [*picked, picked[0]]) == 3
    assert ids(gallery, ada) == [kept]
    assert all(not local_file(studio, i).exists() for i in picked)
    with pytest.raises(InvalidInput):
        gallery.delete_many(ada, [])


def test_a_disabled_account_changes_nothing(studio, people) -> None:
    ada = people[0]
    mine = add_generation(studio, ada, "mine")
    with studio.sessions.begin() as session:
        session.get(User, ada.id).enabled = False
    with pytest.raises(PermissionDenied):
        Gallery(studio).set_shared(ada, mine, True)
    assert not row(studio, mine).is_public


# -- downloads -----------------------------------------------------------------------------------------------------
def test_a_zip_holds_the_selected_images_and_their_prompts(studio, people) -> None:
    ada, bob, _root = people
    gallery = Gallery(studio)
    mine = add_generation(studio, ada, "=a formula-looking prompt", stored=True)
    shared = add_generation(studio, bob, "bob's shared cat", stored=True, is_public=True)
    archive = zip_images(gallery, ada, [mine, shared])
    assert archive.count == 2 and archive.missing == ()
    with zipfile.ZipFile(io.BytesIO(archive.data)) as zipped:
        names = zipped.namelist()
        assert names[-1] == "prompts.csv" and len(names) == 3
        assert zipped.read(names[0]) == local_file(studio, mine).read_bytes()
        manifest = list(csv.DictReader(io.StringIO(zipped.read("prompts.csv").decode())))
    assert [m["id"] for m in manifest] == [str(mine), str(shared)]
    assert manifest[0]["prompt"] == "'=a formula-looking prompt"  # a spreadsheet shows it, never runs it


def test_a_zip_refuses_images_the_viewer_may_not_see_and_too_many_at_once(studio, people) -> None:
    ada, bob, _root = people
    gallery = Gallery(studio)
    private = add_generation(studio, ada, "private", stored=True)
    bobs = add_generation(studio, bob, "bob's", stored=True)
    with pytest.raises(NotFound):
        zip_images(gallery, bob, [bobs, private])
    with pytest.raises(InvalidInput):
        zip_images(gallery, bob, list(range(1, MAX_ZIP_IMAGES + 2)))
    local_file(studio, bobs).unlink()
    archive = zip_images(gallery, bob, [bobs])
    assert archive.count == 0 and archive.missing == (bobs,)


def test_image_bytes_are_only_for_those_who_may_see_the_image(studio, people) -> None:
    ada, bob, _root = people
    gallery = Gallery(studio)
    private = add_generation(studio, ada, "private", stored=True)
    record, data = gallery.image_bytes(ada, private)
    assert data == local_file(studio, record.id).read_bytes()
    assert local_file(studio, record.id, "thumb").read_bytes().startswith(b"RIFF")
    with pytest.raises(NotFound):
        gallery.image_bytes(bob, private)


# -- failures --------------------------------------------------------------------------------------------------------
def test_my_recent_failures_come_with_their_reasons(studio, people) -> None:
    ada, bob, _root = people
    add_generation(studio, ada, "fine")
    refused = add_generation(studio, ada, "refused", status="failed", error_reason="safety_filter",
                             error_message="The safety filter refused this prompt.", created_at=at(2))
    busy = add_generation(studio, ada, "busy", status="failed", error_reason="capacity", created_at=at(1))
    waiting = add_generation(studio, ada, "waiting", status="pending_upload", error_reason="store_failed")
    add_generation(studio, bob, "bob's failure", status="failed")
    gallery = Gallery(studio)
    failures = gallery.failures(ada)
    assert [f.id for f in failures] == [waiting, busy, refused]
    assert failures[-1].error_message == "The safety filter refused this prompt."
    assert [f.id for f in gallery.failures(ada, statuses=["failed"])] == [busy, refused]
    assert [f.id for f in gallery.failures(ada, statuses=["pending_upload"], limit=1)] == [waiting]
    assert gallery.failures(ada, statuses=["succeeded"]) == []


# -- indexes and migrations ----------------------------------------------------------------------------------------
def _plan(studio: Studio, query: GalleryQuery, viewer: Viewer) -> str:
    """SQLite's plan for the gallery's query, captured as it runs."""
    captured: list[tuple[str, object]] = []

    def remember(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if "FROM generations" in statement or "FROM generations_fts" in statement:
            captured.append((statement, parameters))

    event.listen(studio.engine, "before_cursor_execute", remember)
    Gallery(studio).page(viewer, query)
    event.remove(studio.engine, "before_cursor_execute", remember)
    statement, parameters = captured[0]
    with studio.engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
    return "\n".join(r[-1] for r in rows)


def test_sqlite_pages_use_the_gallery_indexes_and_search_is_driven_by_fts(tmp_path: Path) -> None:
    from akari.config import load_settings

    studio = Studio.open(load_settings(akari_data_dir=str(tmp_path / "d")))
    try:
        ada = add_user(studio, "ada")
        mine = _plan(studio, GalleryQuery(), ada)
        assert "ix_generations_gallery_user" in mine and "TEMP B-TREE" not in mine
        search = _plan(studio, GalleryQuery(search="lighthouse", scope="community"), ada)
        assert search.splitlines()[0].startswith("SCAN generations_fts VIRTUAL TABLE")
        assert "TEMP B-TREE" not in search
        older = _plan(studio, GalleryQuery(search="lighthouse", after=500, sort="oldest"), ada)
        assert "TEMP B-TREE" not in older
        assert older.index("SCAN generations_fts VIRTUAL TABLE") < older.index("SEARCH generations USING INTEGER")
    finally:
        studio.close()


def test_upgrading_a_database_with_images_indexes_their_prompts(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (username, name, email, roles, enabled, created_at, updated_at) "
                              "VALUES ('ada', 'Ada', '', '[\"member\"]', true, '2026-01-01', '2026-01-01')"))
            for i, prompt in enumerate(("an old lighthouse", "a quiet harbour", "lighthouse keeper's cat")):
                conn.execute(text(
                    "INSERT INTO generations (user_id, prompt, steps, seed, model, generator, store, status, "
                    "neurons, generate_ms, is_public, is_favourite, created_at) VALUES (1, :prompt, 4, :seed, 'm', "
                    "'cloudflare', 'local', 'succeeded', 57.6, 1500, false, false, :created)"
                ), {"prompt": prompt, "seed": i, "created": f"2026-01-0{i + 1} 10:00:00"})
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
    from akari.config import load_settings

    studio = Studio.open(load_settings(akari_data_dir=str(tmp_path / "d"), akari_database_url=database_url))
    try:
        gallery = Gallery(studio)
        assert [r.prompt for r in gallery.page(Viewer(1), GalleryQuery(search="lighthouse")).items] == [
            "lighthouse keeper's cat", "an old lighthouse"]
        assert len(gallery.page(Viewer(1), GalleryQuery()).items) == 3
        # The downgrade takes the search structures away and the upgrade builds them again, data intact.
        migrate.downgrade(studio.engine, "0001")
        migrate.upgrade(studio.engine)
        assert len(gallery.page(Viewer(1), GalleryQuery(search="harbour")).items) == 1
    finally:
        studio.close()


def test_the_total_counts_every_page_of_the_same_query(studio, people, catalogue) -> None:
    ada = people[0]
    gallery = Gallery(studio)
    for query in ({}, {"search": "lighthouse"}, {"search": "light"}, {"scope": "community"},
                  {"scope": "community", "search": "lighthouse"}, {"steps": (2,)}, {"search": "zebra"}):
        everything = ids(gallery, ada, limit=100, **query)
        assert gallery.count(ada, GalleryQuery(**query)) == len(everything), query
