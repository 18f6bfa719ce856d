"""Usage by source (ui, api, cli): every figure can be filtered by where generations were asked for."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from akari.db import migrate
from akari.db.engine import make_engine
from akari.db.models import utcnow
from akari.errors import InvalidInput
from akari.studio import Studio
from akari.summaries import fold_deltas
from akari.usage import Usage, UsageFilter
from akari.usage_log import csv_chunks
from tests import gallery_data
from tests.gallery_data import add_generation, add_user

postgres_database = gallery_data.postgres_database
database_url = gallery_data.database_url
studio = gallery_data.studio


def _figures(studio: Studio, viewer, source: str | None, user_id: int | None = None) -> tuple[int, int, int]:
    report = Usage(studio).report(viewer, UsageFilter.last_days(7, user_id, source=source))
    return report.headline.generations, report.headline.succeeded, report.headline.failed


def test_usage_figures_and_the_log_filter_by_source(studio: Studio) -> None:
    ada, root = add_user(studio, "ada"), add_user(studio, "root", admin=True)
    for source, status in (("ui", "succeeded"), ("api", "succeeded"), ("api", "succeeded"), ("api", "failed"),
                           ("cli", "succeeded")):
        add_generation(studio, ada, f"a {source} lighthouse", source=source, status=status)
    assert _figures(studio, ada, None, ada.id) == (5, 4, 1)
    assert _figures(studio, ada, "api", ada.id) == (3, 2, 1)
    assert _figures(studio, ada, "ui", ada.id) == (1, 1, 0)
    fold_deltas(studio.sessions)  # folded or not, the figures are the same
    assert _figures(studio, root, "cli") == (1, 1, 0)
    report = Usage(studio).report(root, UsageFilter.last_days(7, source="api"))
    assert [(u.username, u.generations) for u in report.per_user] == [("ada", 3)]
    assert report.failure_reasons[0].generations == 1
    log = "".join(csv_chunks(Usage(studio), root, UsageFilter.last_days(7, source="api")))
    assert log.count("a api lighthouse") == 3 and "a ui lighthouse" not in log
    assert Usage(studio).log_size(root, UsageFilter.last_days(7, source="api")) == 3
    with pytest.raises(InvalidInput):
        Usage(studio).report(root, UsageFilter.last_days(7, source="email"))


def test_upgrading_rebuilds_the_summaries_by_source_and_downgrading_keeps_the_totals(database_url: str) -> None:
    engine = make_engine(database_url)
    day = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    try:
        migrate.upgrade(engine, "0003")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (username, name, email, roles, enabled, created_at, updated_at) "
                              "VALUES ('ada', 'Ada', '', '[\"member\"]', true, :d, :d)"), {"d": day})
            for source, status in (("ui", "succeeded"), ("api", "succeeded"), ("api", "failed")):
                conn.execute(text(
                    "INSERT INTO generations (user_id, prompt, steps, seed, model, generator, store, status, "
                    "neurons, is_public, is_favourite, created_at, source, attempts, upload_attempts, "
                    "generate_ms) VALUES (1, 'p', 4, 1, 'm', 'offline', 'local', :status, 10, false, false, :d, "
                    ":source, 0, 0, 1200)"), {"status": status, "d": day, "source": source})

        def totals(by_source: bool) -> dict[tuple[str, str], int]:
            extra = "source, " if by_source else ""
            with engine.connect() as conn:
                rows = conn.execute(text(
                    f"SELECT {extra}value, sum(generations) FROM (SELECT {extra}value, generations FROM usage_daily "
                    f"WHERE dimension = 'status' UNION ALL SELECT {extra}value, generations FROM usage_delta "
                    f"WHERE dimension = 'status') AS s GROUP BY {extra}value")).all()
            return {(row[-2], row[0] if by_source else "all"): int(row[-1]) for row in rows if row[-1]}

        before = totals(False)
        migrate.upgrade(engine)
        assert totals(True) == {("succeeded", "ui"): 1, ("succeeded", "api"): 1, ("failed", "api"): 1}
        with engine.begin() as conn:  # the triggers now carry the source
            conn.execute(text("UPDATE generations SET status = 'failed' WHERE source = 'ui'"))
        assert totals(True) == {("failed", "ui"): 1, ("succeeded", "api"): 1, ("failed", "api"): 1}
        migrate.downgrade(engine, "0003")
        assert totals(False) == {("failed", "all"): 2, ("succeeded", "all"): 1} != before
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
