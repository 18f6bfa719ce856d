"""Usage by model from the summaries: exactly what counting the rows gives, with the triggers carrying the model."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import case, delete, func, select, text, update

from akari.db import migrate
from akari.db.engine import make_engine
from akari.db.models import Generation, utcnow
from akari.quota import COUNTED_STATUSES
from akari.studio import Studio
from akari.summaries import fold_deltas
from akari.usage import SUCCESS_STATUSES, Usage, UsageFilter
from tests import gallery_data
from tests.gallery_data import add_generation, add_user

postgres_database = gallery_data.postgres_database
database_url = gallery_data.database_url
studio = gallery_data.studio

SCHNELL = "@cf/black-forest-labs/flux-1-schnell"
PHOENIX = "@cf/leonardo/phoenix-1.0"
KLEIN = "@cf/black-forest-labs/flux-2-klein-4b"


def _from_rows(studio: Studio, usage_filter: UsageFilter) -> list[tuple[str, int, int, int, float, float | None]]:
    """The split as it was computed before the summaries had a model: one GROUP BY over the rows (the oracle)."""
    start = datetime.combine(usage_filter.date_from, time())
    end = datetime.combine(usage_filter.date_to + timedelta(days=1), time())
    timed = (Generation.status == "succeeded") & Generation.generate_ms.is_not(None)
    stmt = (
        select(Generation.model, func.count(Generation.id),
               func.sum(case((Generation.status.in_(SUCCESS_STATUSES), 1), else_=0)),
               func.sum(case((Generation.status == "failed", 1), else_=0)),
               func.sum(case((Generation.status.in_(COUNTED_STATUSES), Generation.neurons), else_=0.0)),
               func.avg(case((timed, Generation.generate_ms + func.coalesce(Generation.store_ms, 0)))))
        .where(Generation.created_at >= start, Generation.created_at < end)
        .group_by(Generation.model)
    )
    if usage_filter.user_id is not None:
        stmt = stmt.where(Generation.user_id == usage_filter.user_id)
    if usage_filter.source is not None:
        stmt = stmt.where(Generation.source == usage_filter.source)
    with studio.sessions() as session:
        rows = session.execute(stmt).all()
    return sorted(((m, n, int(ok), int(bad), round(float(neurons), 6), None if avg is None else float(avg))
                   for m, n, ok, bad, neurons, avg in rows), key=lambda r: (-r[1], r[0]))


def _from_summaries(studio: Studio, viewer, usage_filter: UsageFilter) -> list[tuple]:
    return [(m.model, m.generations, m.succeeded, m.failed, round(m.neurons, 6), m.average_ms)
            for m in Usage(studio).by_model(viewer, usage_filter)]


def test_the_split_by_model_from_the_summaries_equals_counting_the_rows(studio: Studio) -> None:
    ada, bob, root = add_user(studio, "ada"), add_user(studio, "bob"), add_user(studio, "root", admin=True)
    now = utcnow()
    rows = [
        (ada, SCHNELL, "succeeded", "ui", 57.6, 1200, now - timedelta(hours=1)),
        (ada, SCHNELL, "succeeded", "api", 57.6, 2300, now - timedelta(days=3)),
        (ada, PHOENIX, "succeeded", "api", 2370.0, 9800, now - timedelta(hours=2)),
        (ada, PHOENIX, "failed", "ui", 2370.0, None, now - timedelta(hours=2)),
        (ada, PHOENIX, "cancelled", "ui", 2370.0, None, now - timedelta(hours=2)),
        (ada, KLEIN, "pending_upload", "cli", 104.2, 4000, now - timedelta(days=40)),
        (bob, KLEIN, "queued", "api", 104.2, None, now - timedelta(hours=3)),
        (bob, SCHNELL, "succeeded", "cli", 57.6, 130_000, now - timedelta(days=5)),
        (bob, PHOENIX, "running", "ui", 2370.0, None, now - timedelta(minutes=5)),
    ]
    ids = [add_generation(studio, who, model=model, status=status, source=source, neurons=neurons,
                          generate_ms=ms, created_at=at) for who, model, status, source, neurons, ms, at in rows]
    today = now.date()
    filters = [UsageFilter(today - timedelta(days=6), today), UsageFilter(today - timedelta(days=59), today),
               UsageFilter(today - timedelta(days=59), today, ada.id), UsageFilter(today, today, bob.id),
               UsageFilter(today - timedelta(days=59), today, source="api"), UsageFilter(date(2020, 1, 1),
                                                                                          date(2020, 1, 2))]

    def same() -> None:
        for usage_filter in filters:
            viewer = root if usage_filter.user_id is None else (ada if usage_filter.user_id == ada.id else bob)
            assert _from_summaries(studio, viewer, usage_filter) == _from_rows(studio, usage_filter), usage_filter

    same()
    assert _from_summaries(studio, root, filters[1])[0][:5] == (PHOENIX, 4, 1, 1, 2 * 2370.0)
    fold_deltas(studio.sessions)  # folded or not: the same figures
    same()
    with studio.sessions.begin() as session:  # the triggers carry the model through updates and deletes
        session.execute(update(Generation).where(Generation.id == ids[6]).values(status="succeeded",
                                                                                 generate_ms=3000))
        session.execute(update(Generation).where(Generation.id == ids[2]).values(status="failed", generate_ms=None))
        session.execute(delete(Generation).where(Generation.id == ids[0]))
    same()
    fold_deltas(studio.sessions)
    same()
    assert [m[:4] for m in _from_summaries(studio, root, filters[0])] == [
        (PHOENIX, 4, 0, 2), (SCHNELL, 2, 2, 0), (KLEIN, 1, 1, 0)]


def test_upgrading_rebuilds_the_summaries_by_model_and_downgrading_keeps_the_totals(database_url: str) -> None:
    engine = make_engine(database_url)
    day = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    try:
        migrate.upgrade(engine, "0006")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (username, name, email, roles, enabled, created_at, updated_at) "
                              "VALUES ('ada', 'Ada', '', '[\"member\"]', true, :d, :d)"), {"d": day})
            for model, status in (("m1", "succeeded"), ("m2", "succeeded"), ("m2", "failed")):
                conn.execute(text(
                    "INSERT INTO generations (user_id, prompt, steps, seed, model, generator, store, status, "
                    "neurons, is_public, is_favourite, created_at, source, attempts, upload_attempts, "
                    "generate_ms) VALUES (1, 'p', 4, 1, :model, 'offline', 'local', :status, 10, false, false, :d, "
                    "'ui', 0, 0, 1200)"), {"status": status, "d": day, "model": model})

        def totals(by_model: bool) -> dict[tuple[str, str], tuple[int, float]]:
            extra = "model, " if by_model else ""
            with engine.connect() as conn:
                rows = conn.execute(text(
                    f"SELECT {extra}value, sum(generations), sum(neurons) FROM (SELECT {extra}value, generations, "
                    f"neurons FROM usage_daily WHERE dimension = 'status' UNION ALL SELECT {extra}value, "
                    f"generations, neurons FROM usage_delta WHERE dimension = 'status') AS s "
                    f"GROUP BY {extra}value")).all()
            return {(row[-3], row[0] if by_model else "all"): (int(row[-2]), float(row[-1]))
                    for row in rows if row[-2]}

        before = totals(False)
        migrate.upgrade(engine)
        assert totals(True) == {("succeeded", "m1"): (1, 10.0), ("succeeded", "m2"): (1, 10.0),
                                ("failed", "m2"): (1, 10.0)}
        with engine.begin() as conn:  # the triggers now carry the model
            conn.execute(text("UPDATE generations SET status = 'failed' WHERE model = 'm1'"))
            conn.execute(text(
                "INSERT INTO generations (user_id, prompt, steps, seed, model, generator, store, status, neurons, "
                "is_public, is_favourite, created_at, source, attempts, upload_attempts) VALUES (1, 'p', 4, 1, "
                "'m3', 'offline', 'local', 'queued', 5, false, false, :d, 'api', 0, 0)"), {"d": day})
        assert totals(True) == {("failed", "m1"): (1, 10.0), ("succeeded", "m2"): (1, 10.0),
                                ("failed", "m2"): (1, 10.0), ("queued", "m3"): (1, 5.0)}
        migrate.downgrade(engine, "0006")
        assert totals(False) == {("failed", "all"): (2, 20.0), ("succeeded", "all"): (1, 10.0),
                                 ("queued", "all"): (1, 5.0)} != before
        migrate.upgrade(engine)
        assert totals(True)[("queued", "m3")] == (1, 5.0)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
