"""Usage figures against the same numbers worked out here from the rows, summaries kept in step, the CSV log,
demo data and the migration's backfill."""

from __future__ import annotations

import csv
import io
import math
import random
import time
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text, update

from akari import demo_data
from akari.cli import main
from akari.db import migrate
from akari.db.engine import make_engine
from akari.db.models import Generation, User, utcnow
from akari.errors import InvalidInput, PermissionDenied
from akari.gallery import Gallery, GalleryQuery
from akari.generators import GeneratedImage
from akari.generators.offline import OfflineGenerator
from akari.pricing import DOLLARS_PER_1000_NEURONS, FREE_NEURONS_PER_DAY
from akari.prompts import GenerationRequest
from akari.studio import Studio
from akari.summaries import fold_deltas
from akari.summaries import summaries as summary_table
from akari.usage import Usage, UsageFilter
from akari.usage_log import csv_chunks
from tests import gallery_data
from tests.gallery_data import Viewer, add_generation, add_user, at, generate_now

postgres_database = gallery_data.postgres_database
database_url = gallery_data.database_url
studio = gallery_data.studio

STATUSES = ["succeeded"] * 14 + ["failed"] * 3 + ["pending_upload", "queued", "running"]
REASONS = ["safety_filter", "capacity", "timeout", None]


@pytest.fixture
def history(studio: Studio) -> dict[str, object]:
    """Three people and 400 generations over 20 days with a known mix; returns the rows as plain dicts."""
    rng = random.Random(4)
    people = {"ada": add_user(studio, "ada"), "bob": add_user(studio, "bob"),
              "root": add_user(studio, "root", admin=True)}
    rows = []
    with studio.sessions.begin() as session:
        for i in range(400):
            owner = rng.choice(list(people.values()))
            status = rng.choice(STATUSES)
            steps = rng.choice([1, 2, 4, 4, 4, 8])
            timed = status in ("succeeded", "pending_upload") or (status == "failed" and i % 2 == 0)
            generate_ms = rng.choice([rng.randint(80, 9_900), rng.randint(80, 9_900), rng.randint(10_000, 130_000)]) \
                if timed else None
            store_ms = rng.randint(0, 400) if status == "succeeded" and i % 5 else None
            row = {
                "user_id": owner.id,
                "prompt": f"prompt {i}",
                "steps": steps,
                "status": status,
                "error_reason": rng.choice(REASONS) if status == "failed" else None,
                "neurons": 19.2 + 9.6 * steps if status in ("succeeded", "pending_upload") and i % 7 else 0.0,
                "generate_ms": generate_ms,
                "store_ms": store_ms,
                "created_at": at(rng.randint(0, 19), hour=0) + timedelta(seconds=rng.randint(0, 86_399)),
            }
            if row["created_at"] > utcnow():
                row["created_at"] = utcnow() - timedelta(seconds=i)
            rows.append(row)
            session.add(Generation(seed=i, model="m", generator="cloudflare", store="local", **row))
    return {"people": people, "rows": rows}


def expected(rows: list[dict], date_from: date, date_to: date, user_id: int | None) -> dict[str, object]:
    """The usage figures, worked out in plain Python from the rows."""
    picked = [r for r in rows if date_from <= r["created_at"].date() <= date_to
              and (user_id is None or r["user_id"] == user_id)]
    per_day: dict[tuple[date, str], int] = Counter((r["created_at"].date(), r["status"]) for r in picked)
    neurons_by_day: dict[date, float] = defaultdict(float)
    for r in picked:
        neurons_by_day[r["created_at"].date()] += r["neurons"]
    times = sorted(r["generate_ms"] + (r["store_ms"] or 0) for r in picked
                   if r["status"] == "succeeded" and r["generate_ms"] is not None)
    succeeded = sum(r["status"] in ("succeeded", "pending_upload") for r in picked)
    failed = sum(r["status"] == "failed" for r in picked)
    per_user: dict[int, list[float]] = defaultdict(lambda: [0, 0, 0, 0.0])
    for r in picked:
        figures = per_user[r["user_id"]]
        figures[0] += 1
        figures[1] += r["status"] in ("succeeded", "pending_upload")
        figures[2] += r["status"] == "failed"
        figures[3] += r["neurons"]
    return {
        "generations": len(picked),
        "succeeded": succeeded,
        "failed": failed,
        "success_rate": succeeded / (succeeded + failed) if succeeded + failed else None,
        "neurons": sum(r["neurons"] for r in picked),
        "billable": sum(max(0.0, n - FREE_NEURONS_PER_DAY) for n in neurons_by_day.values()),
        "per_day": dict(per_day),
        "times": times,
        "reasons": Counter(r["error_reason"] or "unknown" for r in picked if r["status"] == "failed"),
        "steps": Counter(r["steps"] for r in picked),
        "steps_neurons": {s: sum(r["neurons"] for r in picked if r["steps"] == s)
                          for s in {r["steps"] for r in picked}},
        "per_user": {uid: tuple(v) for uid, v in per_user.items()},
    }


def bucket_of(ms: int) -> int:
    return ms // 100 if ms < 10_000 else 100 + (ms - 10_000) // 1000 if ms < 120_000 else 210


def nearest_rank(times: list[int], q: float) -> int:
    """The q-th percentile of sorted values by the nearest-rank definition."""
    return times[max(0, math.ceil(q * len(times)) - 1)]


def check(report, figures: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    h = report.headline
    assert h.generations == figures["generations"]
    assert (h.succeeded, h.failed) == (figures["succeeded"], figures["failed"])
    assert h.success_rate == pytest.approx(figures["success_rate"])
    assert h.neurons == pytest.approx(figures["neurons"])
    assert h.dollars == pytest.approx(figures["neurons"] * DOLLARS_PER_1000_NEURONS / 1000)
    assert {(d.day, d.status): d.generations for d in report.per_day} == figures["per_day"]
    assert {c.label: c.generations for c in report.failure_reasons} == dict(figures["reasons"])
    assert [c.generations for c in report.failure_reasons] == sorted(figures["reasons"].values(), reverse=True)
    assert {int(c.label): c.generations for c in report.steps} == dict(figures["steps"])
    assert {int(c.label): c.neurons for c in report.steps} == pytest.approx(figures["steps_neurons"])
    times = figures["times"]
    assert {b.start_ms: b.generations for b in report.time_to_image} == {
        b: n for b, n in Counter(_start(bucket_of(t)) for t in times).items()}
    if times:
        # The summaries keep 100 ms buckets: each estimate must fall in the bucket of the true percentile.
        for estimate, q in ((h.median_ms, 0.5), (h.p95_ms, 0.95)):
            true = nearest_rank(times, q)
            start = _start(bucket_of(true))
            end = start + (100 if start < 10_000 else 1000) if start < 120_000 else start
            assert start <= estimate <= end, (q, true, estimate)
    else:
        assert h.median_ms is None and h.p95_ms is None


def _start(bucket: int) -> int:
    if bucket < 100:
        return bucket * 100
    return 10_000 + (bucket - 100) * 1000 if bucket < 210 else 120_000


# -- figures -------------------------------------------------------------------------------------------------------
def test_everyones_figures_match_the_rows(studio: Studio, history) -> None:
    people, rows = history["people"], history["rows"]
    today = utcnow().date()
    report = Usage(studio).report(people["root"], UsageFilter(today - timedelta(days=30), today))
    figures = expected(rows, today - timedelta(days=30), today, None)
    check(report, figures)
    assert report.headline.billable_neurons == pytest.approx(figures["billable"])
    assert {u.user_id: (u.generations, u.succeeded, u.failed, pytest.approx(u.neurons)) for u in report.per_user} \
        == figures["per_user"]
    assert report.per_user[0].generations == max(f[0] for f in figures["per_user"].values())
    assert report.headline.today_quota is None
    assert report.headline.today_used == sum(
        r["created_at"].date() == today and r["status"] != "failed" for r in rows)


@pytest.mark.parametrize("days", [(0, 0), (3, 9), (19, 19), (5, 40)])
def test_one_persons_figures_in_a_date_range_match_the_rows(studio: Studio, history, days) -> None:
    people, rows = history["people"], history["rows"]
    today = utcnow().date()
    date_from, date_to = today - timedelta(days=days[1]), today - timedelta(days=days[0])
    for name in ("ada", "bob"):
        viewer = people[name]
        report = Usage(studio).report(viewer, UsageFilter(date_from, date_to, viewer.id))
        check(report, expected(rows, date_from, date_to, viewer.id))
        assert report.per_user == [] and report.headline.billable_neurons is None
    admin_view = Usage(studio).report(people["root"], UsageFilter(date_from, date_to, people["bob"].id))
    check(admin_view, expected(rows, date_from, date_to, people["bob"].id))


def test_todays_quota_is_the_one_the_generate_page_counts(studio: Studio, history) -> None:
    ada = history["people"]["ada"]
    report = Usage(studio).report(ada, UsageFilter.last_days(7, ada.id))
    usage = studio.quotas.daily_usage(ada.id)
    assert (report.headline.today_used, report.headline.today_quota) == (usage.used, usage.quota)


def test_members_see_only_their_own_figures(studio: Studio, history) -> None:
    people = history["people"]
    usage = Usage(studio)
    with pytest.raises(PermissionDenied):
        usage.report(people["ada"], UsageFilter.last_days(30))
    with pytest.raises(PermissionDenied):
        usage.report(people["ada"], UsageFilter.last_days(30, people["bob"].id))
    with pytest.raises(PermissionDenied):
        usage.users(people["ada"])
    with pytest.raises(PermissionDenied):
        list(csv_chunks(usage, people["ada"], UsageFilter.last_days(30, people["bob"].id)))
    assert [name for _id, name in usage.users(people["root"])] == ["ada", "bob", "root"]
    with studio.sessions.begin() as session:
        session.execute(update(User).where(User.id == people["root"].id).values(enabled=False))
    with pytest.raises(PermissionDenied):
        usage.report(people["root"], UsageFilter.last_days(30))
    with pytest.raises(InvalidInput):
        usage.report(people["ada"], UsageFilter(date(2026, 2, 1), date(2026, 1, 1), people["ada"].id))


def test_an_empty_period_has_zeros_and_no_times(studio: Studio) -> None:
    ada = add_user(studio, "ada")
    report = Usage(studio).report(ada, UsageFilter.last_days(7, ada.id))
    h = report.headline
    assert (h.generations, h.success_rate, h.median_ms, h.p95_ms, h.neurons) == (0, None, None, None, 0)
    assert report.per_day == report.time_to_image == report.failure_reasons == report.steps == []


# -- the summaries stay in step ------------------------------------------------------------------------------------
def summaries(studio: Studio) -> dict[tuple, tuple]:
    """What the usage page reads: the folded summaries plus the deltas not folded yet."""
    table = summary_table()
    with studio.sessions() as session:
        found = session.execute(
            select(table.c.dimension, table.c.user_id, table.c.day, table.c.value, func.sum(table.c.generations),
                   func.sum(table.c.neurons), func.sum(table.c.time_ms))
            .group_by(table.c.dimension, table.c.user_id, table.c.day, table.c.value)
            .having(func.sum(table.c.generations) != 0)).all()
    return {(d, u, day if isinstance(day, date) else date.fromisoformat(day), v): (int(n), round(float(ne), 6), int(ms))
            for d, u, day, v, n, ne, ms in found}


def recomputed(studio: Studio) -> dict[tuple, tuple]:
    """The summaries as they should be, worked out in Python from every row."""
    out: dict[tuple, list] = defaultdict(lambda: [0, 0.0, 0])
    with studio.sessions() as session:
        for g in session.scalars(select(Generation)):
            day = g.created_at.date()
            keys = [("status", g.status, 0), ("steps", str(g.steps), 0)]
            if g.status == "failed":
                keys.append(("reason", g.error_reason or "unknown", 0))
            if g.status == "succeeded" and g.generate_ms is not None:
                ms = g.generate_ms + (g.store_ms or 0)
                keys.append(("time", str(bucket_of(ms)), ms))
            for dimension, value, ms in keys:
                entry = out[(dimension, g.user_id, day, value)]
                entry[0] += 1
                entry[1] += g.neurons
                entry[2] += ms
    return {k: (v[0], round(v[1], 6), v[2]) for k, v in out.items() if v[0]}


class RefusingGenerator(OfflineGenerator):
    def generate(self, prompt: str, *, steps: int, seed: int, deadline: float | None = None) -> GeneratedImage:
        from akari.errors import GenerationError

        raise GenerationError("Refused.", reason="safety_filter", code="3030")


def test_summaries_follow_every_insert_update_and_delete(studio: Studio, history) -> None:
    assert summaries(studio) == recomputed(studio)
    assert fold_deltas(studio.sessions) > 0  # folding moves the figures between tables and changes none
    assert summaries(studio) == recomputed(studio)
    people = history["people"]
    made = generate_now(studio, people["ada"].id, GenerationRequest(prompt="a fox", steps=3))
    assert made.status == "succeeded"
    studio.generations.generator = RefusingGenerator()
    refused = generate_now(studio, people["bob"].id, GenerationRequest(prompt="refused"))
    assert refused.status == "failed"
    assert summaries(studio) == recomputed(studio)
    with studio.sessions.begin() as session:
        session.execute(update(Generation).where(Generation.status == "running").values(
            status="failed", error_reason="interrupted", generate_ms=None))
        session.execute(update(Generation).where(Generation.status == "pending_upload").values(
            status="succeeded", store_ms=33))
        session.execute(update(Generation).where(Generation.id % 9 == 0).values(steps=8, neurons=96.0))
        session.execute(update(Generation).where(Generation.id % 11 == 0).values(created_at=at(25)))
        session.execute(update(Generation).where(Generation.id % 13 == 0).values(is_public=True, is_favourite=True))
        session.execute(delete(Generation).where(Generation.id % 17 == 0))
    assert summaries(studio) == recomputed(studio)
    fold_deltas(studio.sessions)
    assert summaries(studio) == recomputed(studio)
    # Deleting an account deletes its generations (ON DELETE CASCADE), and their share of the summaries.
    with studio.sessions.begin() as session:
        session.execute(delete(User).where(User.id == people["bob"].id))
    assert summaries(studio) == recomputed(studio)
    assert all(user_id != people["bob"].id for _d, user_id, _day, _v in summaries(studio))
    # Hiding an image from the gallery keeps its cost in the figures: it was made and paid for.
    before = Usage(studio).report(people["root"], UsageFilter.last_days(30)).headline
    [first] = Gallery(studio).page(people["ada"], GalleryQuery(limit=1)).items
    Gallery(studio).delete(people["ada"], first.id)
    assert Usage(studio).report(people["root"], UsageFilter.last_days(30)).headline == before


# -- the generation log ------------------------------------------------------------------------------------------
def test_the_csv_log_streams_every_row_of_the_filter_in_order(studio: Studio, history) -> None:
    people, rows = history["people"], history["rows"]
    today = utcnow().date()
    ada = people["ada"]
    usage_filter = UsageFilter(today - timedelta(days=9), today - timedelta(days=2), ada.id)
    chunks = list(csv_chunks(Usage(studio), ada, usage_filter, chunk_rows=7))
    parsed = list(csv.DictReader(io.StringIO("".join(chunks))))
    wanted = sorted((r for r in rows if r["user_id"] == ada.id
                     and usage_filter.date_from <= r["created_at"].date() <= usage_filter.date_to),
                    key=lambda r: r["created_at"])
    assert [p["prompt"] for p in parsed] == [r["prompt"] for r in wanted]
    assert len(chunks) >= len(wanted) // 7  # a header, then chunks of at most 7 rows
    assert all(chunk.count("\n") <= 7 for chunk in chunks[1:])
    assert {p["user"] for p in parsed} == {"ada"}
    assert Usage(studio).log_size(ada, usage_filter) == len(wanted)
    everyone = list(csv.DictReader(io.StringIO("".join(
        csv_chunks(Usage(studio), people["root"], UsageFilter(today - timedelta(days=40), today))))))
    assert len(everyone) == len(rows)


def test_the_csv_log_keeps_formulas_as_text(studio: Studio) -> None:
    ada = add_user(studio, "ada")
    add_generation(studio, ada, "=HYPERLINK(\"http://evil\")", status="failed", error_message="@SUM(A1)")
    text = "".join(csv_chunks(Usage(studio), ada, UsageFilter.last_days(2, ada.id)))
    [line] = list(csv.DictReader(io.StringIO(text)))
    assert line["prompt"] == "'=HYPERLINK(\"http://evil\")" and line["error_message"] == "'@SUM(A1)"
    assert line["status"] == "failed" and line["deleted"] == "0"


# -- demo data -------------------------------------------------------------------------------------------------------
def test_demo_data_adds_realistic_rows_quickly_and_keeps_search_and_summaries_in_step(studio: Studio) -> None:
    started = time.perf_counter()
    report = demo_data.fill(studio.engine, studio.settings.images_dir, 3_000, users=4, days=30)
    assert time.perf_counter() - started < 60  # generous: the benchmark measures it properly
    assert report.rows == 3_000 and report.users == demo_data.USERNAMES[:4]
    with studio.sessions() as session:
        assert session.scalar(select(func.count(Generation.id))) == 3_000
        statuses = Counter(session.scalars(select(Generation.status)))
        users = set(session.scalars(select(Generation.user_id)))
        first, last = session.execute(select(func.min(Generation.created_at), func.max(Generation.created_at))).one()
        ordered = list(session.scalars(select(Generation.created_at).order_by(Generation.id)))
        reasons = set(session.scalars(select(Generation.error_reason).where(Generation.status == "failed")))
        shared = session.scalar(select(func.count()).where(Generation.is_public.is_(True)))
    assert set(statuses) == {"succeeded", "failed"} and 0.03 < statuses["failed"] / 3_000 < 0.15
    assert len(users) == 4 and {"safety_filter", "capacity"} <= reasons and 300 < shared < 1200
    assert utcnow() - timedelta(days=30, minutes=1) <= first and last <= utcnow()
    assert ordered == sorted(ordered)  # ids grow with time, as in real use
    assert summaries(studio) == recomputed(studio)

    viewer = Viewer(next(iter(users)))
    page = Gallery(studio).page(viewer, GalleryQuery(search="lighthouse"))
    assert page.items and all("lighthouse" in r.prompt for r in page.items)
    record = page.items[0]
    demo = studio.stores.get("demo")
    assert record.store == "demo" and demo.path(record.image_key, "thumb").read_bytes()[:4] == b"RIFF"
    assert studio.images.read(record)[:3] == b"\xff\xd8\xff"
    # Demo images share their files, so deleting one demo row must leave the picture for the others.
    with studio.sessions.begin() as session:
        session.execute(update(Generation).where(Generation.id == record.id).values(user_id=viewer.id))
    Gallery(studio).delete(viewer, record.id)
    assert demo.path(record.image_key, "thumb").exists() and demo.path(record.image_key).exists()

    again = demo_data.fill(studio.engine, studio.settings.images_dir, 500, users=4, days=30, seed=8)
    assert again.rows == 500 and summaries(studio) == recomputed(studio)
    with pytest.raises(InvalidInput):
        demo_data.fill(studio.engine, studio.settings.images_dir, 0)


def test_the_demo_data_command_fills_the_configured_database(tmp_path: Path, capsys) -> None:
    assert main(["demo-data", "--rows", "250", "--users", "2", "--days", "5"]) == 0
    out = capsys.readouterr().out
    assert "Added 250 demo generations by 2 demo users over 5 days" in out
    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'akari.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM generations")).scalar_one() == 250
    finally:
        engine.dispose()
    assert main(["demo-data", "--rows", "5", "--users", "40"]) == 1
    assert "1 to 12 users" in capsys.readouterr().err


# -- migration -------------------------------------------------------------------------------------------------------
def test_upgrading_a_database_with_history_builds_its_summaries(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (username, name, email, roles, enabled, created_at, updated_at) "
                              "VALUES ('ada', 'Ada', '', '[\"admin\"]', true, '2026-01-01', '2026-01-01')"))
            for i in range(30):
                conn.execute(text(
                    "INSERT INTO generations (user_id, prompt, steps, seed, model, generator, store, status, "
                    "error_reason, neurons, generate_ms, store_ms, is_public, is_favourite, created_at) VALUES "
                    "(1, :prompt, :steps, :seed, 'm', 'cloudflare', 'local', :status, :reason, :neurons, :ms, 12, "
                    "false, false, :created)"
                ), {"prompt": f"old {i}", "steps": 1 + i % 8, "seed": i, "status": "failed" if i % 4 == 0
                    else "succeeded", "reason": "capacity" if i % 8 == 0 else None, "neurons": 57.6,
                    "ms": 700 + 90 * i, "created": f"2026-01-{1 + i % 5:02d} 10:{i:02d}:00"})
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    from akari.config import load_settings

    studio = Studio.open(load_settings(akari_data_dir=str(tmp_path / "d"), akari_database_url=database_url))
    try:
        assert summaries(studio) and summaries(studio) == recomputed(studio)
        report = Usage(studio).report(Viewer(1), UsageFilter(date(2026, 1, 1), date(2026, 1, 31)))
        assert report.headline.generations == 30 and report.headline.failed == 8
    finally:
        studio.close()
