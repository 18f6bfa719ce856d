"""The per-day usage summaries: the table readers sum, the fold of the triggers' deltas, and bulk catch-up.

Triggers (migration 0003) append each change of a generation's counted columns to `usage_delta`. Appending takes no
lock on shared rows, so concurrent generations never deadlock over a summary. One writer at a time folds the deltas
into `usage_daily`; readers sum both tables, so the figures are exact whether or not a fold has run.
"""

from __future__ import annotations

from sqlalchemy import Connection, Subquery, select, text, union_all
from sqlalchemy.orm import Session, sessionmaker

from akari.db.models import UsageDaily, UsageDelta
from akari.db.transactions import retrying

COLUMNS = "(dimension, user_id, day, value, source, model, generations, neurons, time_ms)"
_FOLD_LOCK = 0x414B415253  # PostgreSQL advisory lock: one folder at a time, across processes
_UPSERT = (f"INSERT INTO usage_daily AS u {COLUMNS} {{rows}} "
           "ON CONFLICT (dimension, user_id, day, value, source, model) "
           "DO UPDATE SET generations = u.generations + excluded.generations, "
           "neurons = u.neurons + excluded.neurons, time_ms = u.time_ms + excluded.time_ms")
_GROUPED = ("SELECT dimension, user_id, day, value, source, model, sum(generations), sum(neurons), sum(time_ms) "
            "FROM {source} WHERE true GROUP BY dimension, user_id, day, value, source, model")


def summaries() -> Subquery:
    """Folded summaries and pending deltas as one table, for readers to filter and sum."""
    def rows(table: type[UsageDaily] | type[UsageDelta]):  # type: ignore[no-untyped-def]
        return select(table.dimension, table.user_id, table.day, table.value, table.source, table.model,
                      table.generations, table.neurons, table.time_ms)

    return union_all(rows(UsageDaily), rows(UsageDelta)).subquery("summaries")


def fold_deltas(sessions: sessionmaker[Session]) -> int:
    """Move the deltas into the summaries; returns how many were folded (0 when another process is folding)."""
    return retrying(lambda: _fold(sessions), what="folding usage deltas")


def _fold(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        if session.get_bind().dialect.name == "postgresql":
            if not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _FOLD_LOCK}).scalar():
                return 0
            # One statement: the rows deleted are exactly the rows summed, whatever commits meanwhile.
            return session.execute(text(
                "WITH moved AS (DELETE FROM usage_delta RETURNING *), "
                "folded AS (" + _UPSERT.format(rows=_GROUPED.format(source="moved")) + " RETURNING 1) "
                "SELECT count(*) FROM moved")).scalar() or 0
        # SQLite: this transaction holds the write lock, so nothing is appended between the two statements.
        session.execute(text(_UPSERT.format(rows=_GROUPED.format(source="usage_delta"))))
        return session.execute(text("DELETE FROM usage_delta")).rowcount


_BUCKET_SQL = ("CASE WHEN {ms} < 10000 THEN {ms} / 100 WHEN {ms} < 120000 THEN 100 + ({ms} - 10000) / 1000 "
               "ELSE 210 END")


def add_to_summaries(connection: Connection, after_id: int = 0) -> None:
    """Add the rows with id > after_id to the summaries, for loaders that bypass the triggers (demo data)."""
    sqlite = connection.dialect.name == "sqlite"
    day = "substr(created_at, 1, 10)" if sqlite else "CAST(created_at AS date)"
    as_text = "TEXT" if sqlite else "varchar"
    ms = "(generate_ms + coalesce(store_ms, 0))"
    timed = "status = 'succeeded' AND generate_ms IS NOT NULL"
    bucket = f"CASE WHEN {timed} THEN {_BUCKET_SQL.format(ms=ms)} END"
    # One pass over the new rows into a small cube, then each dimension is summed from the cube.
    connection.execute(text(
        f"CREATE TEMPORARY TABLE usage_cube AS SELECT user_id, {day} AS day, source, model, status, steps, "
        f"coalesce(error_reason, 'unknown') AS reason, {bucket} AS bucket, count(*) AS n, "
        f"sum(neurons) AS neurons, sum(CASE WHEN {timed} THEN {ms} ELSE 0 END) AS ms "
        f"FROM generations WHERE id > :after "
        f"GROUP BY user_id, {day}, source, model, status, steps, coalesce(error_reason, 'unknown'), {bucket}"
    ), {"after": after_id})
    selects = (
        "SELECT 'status', user_id, day, status, source, model, sum(n), sum(neurons), 0 FROM usage_cube WHERE true "
        "GROUP BY user_id, day, status, source, model",
        f"SELECT 'steps', user_id, day, CAST(steps AS {as_text}), source, model, sum(n), sum(neurons), 0 "
        "FROM usage_cube WHERE true GROUP BY user_id, day, steps, source, model",
        "SELECT 'reason', user_id, day, reason, source, model, sum(n), sum(neurons), 0 FROM usage_cube "
        "WHERE status = 'failed' GROUP BY user_id, day, reason, source, model",
        f"SELECT 'time', user_id, day, CAST(bucket AS {as_text}), source, model, sum(n), sum(neurons), sum(ms) "
        "FROM usage_cube WHERE bucket IS NOT NULL GROUP BY user_id, day, bucket, source, model",
    )
    for select_sql in selects:
        # WHERE in every SELECT: SQLite needs it to tell the SELECT apart from the ON CONFLICT clause.
        connection.execute(text(_UPSERT.format(rows=select_sql)))
    connection.execute(text("DROP TABLE usage_cube"))
