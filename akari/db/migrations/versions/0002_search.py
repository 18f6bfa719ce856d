"""Prompt search (SQLite FTS5 / PostgreSQL GIN), gallery indexes and per-day usage summaries kept by triggers.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VISIBLE_SQLITE = "status = 'succeeded' AND deleted_at IS NULL"
VISIBLE_POSTGRESQL = "status = 'succeeded' AND deleted_at IS NULL"

# An external-content FTS5 table holds only the index; the prompts stay in `generations`. The triggers keep it in
# step. A later migration that rebuilds `generations` on SQLite (batch "move and copy") drops these triggers with
# the old table and must create them again.
SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE generations_fts USING fts5(prompt, content='generations', content_rowid='id')",
    """CREATE TRIGGER generations_fts_insert AFTER INSERT ON generations BEGIN
        INSERT INTO generations_fts(rowid, prompt) VALUES (new.id, new.prompt);
    END""",
    """CREATE TRIGGER generations_fts_delete AFTER DELETE ON generations BEGIN
        INSERT INTO generations_fts(generations_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
    END""",
    """CREATE TRIGGER generations_fts_update AFTER UPDATE OF prompt ON generations BEGIN
        INSERT INTO generations_fts(generations_fts, rowid, prompt) VALUES ('delete', old.id, old.prompt);
        INSERT INTO generations_fts(rowid, prompt) VALUES (new.id, new.prompt);
    END""",
    # Indexes the rows already there.
    "INSERT INTO generations_fts(generations_fts) VALUES ('rebuild')",
)
# The expression must match the one the gallery queries with, word for word, for the index to be used.
POSTGRESQL_SEARCH = "CREATE INDEX ix_generations_prompt_search ON generations USING gin (to_tsvector('simple', prompt))"

# Usage summaries: per UTC day and user, how many generations (and neurons, milliseconds) fell on each status,
# steps value, failure reason and time-to-image bucket. The usage page sums these few thousand rows instead of
# scanning a million generations. Triggers add a row's contribution when it is written and take the old one away
# when it changes, in the same transaction, so the summaries can never drift from the table.
# Time-to-image buckets: 100 ms wide below 10 s, 1 s wide up to 120 s, then one open bucket.
BUCKET = ("CASE WHEN {ms} < 10000 THEN {ms} / 100 WHEN {ms} < 120000 THEN 100 + ({ms} - 10000) / 1000 "
          "ELSE 210 END")
TIME_MS = "{g}.generate_ms + coalesce({g}.store_ms, 0)"


def _contributions(g: str, text_type: str) -> str:
    """The summary rows one generation adds to: (dimension, value, milliseconds)."""
    ms = TIME_MS.format(g=g)
    return f"""
        SELECT 'status' AS dimension, {g}.status AS value, 0 AS ms
        UNION ALL SELECT 'steps', CAST({g}.steps AS {text_type}), 0
        UNION ALL SELECT 'reason', coalesce({g}.error_reason, 'unknown'), 0 WHERE {g}.status = 'failed'
        UNION ALL SELECT 'time', CAST({BUCKET.format(ms=f"({ms})")} AS {text_type}), {ms}
            WHERE {g}.status = 'succeeded' AND {g}.generate_ms IS NOT NULL"""


def _sqlite_apply(g: str, sign: str) -> str:
    return f"""INSERT INTO usage_daily (dimension, user_id, day, value, generations, neurons, time_ms)
        SELECT c.dimension, {g}.user_id, substr({g}.created_at, 1, 10), c.value, {sign}1, {sign}{g}.neurons,
               {sign}c.ms
        FROM ({_contributions(g, "TEXT")}) AS c WHERE true
        ON CONFLICT (dimension, user_id, day, value) DO UPDATE SET
            generations = generations + excluded.generations,
            neurons = neurons + excluded.neurons,
            time_ms = time_ms + excluded.time_ms;"""


# Columns that decide a generation's contribution; other updates (sharing, favourites) leave summaries alone.
COUNTED_COLUMNS = ("user_id", "created_at", "status", "steps", "error_reason", "generate_ms", "store_ms", "neurons")
_CHANGED = " OR ".join(f"old.{c} IS NOT new.{c}" for c in COUNTED_COLUMNS)

SQLITE_USAGE = (
    f"CREATE TRIGGER generations_usage_insert AFTER INSERT ON generations BEGIN {_sqlite_apply('new', '+')} END",
    f"CREATE TRIGGER generations_usage_delete AFTER DELETE ON generations BEGIN {_sqlite_apply('old', '-')} END",
    f"""CREATE TRIGGER generations_usage_update AFTER UPDATE ON generations WHEN {_CHANGED} BEGIN
        {_sqlite_apply('old', '-')}
        {_sqlite_apply('new', '+')}
    END""",
)

POSTGRESQL_USAGE = (
    f"""CREATE FUNCTION usage_daily_add(g generations, direction integer) RETURNS void LANGUAGE sql AS $$
        INSERT INTO usage_daily AS u (dimension, user_id, day, value, generations, neurons, time_ms)
        SELECT c.dimension, g.user_id, CAST(g.created_at AS date), c.value, direction, direction * g.neurons,
               direction * c.ms
        FROM ({_contributions("g", "varchar")}) AS c
        ON CONFLICT (dimension, user_id, day, value) DO UPDATE SET
            generations = u.generations + excluded.generations,
            neurons = u.neurons + excluded.neurons,
            time_ms = u.time_ms + excluded.time_ms
    $$""",
    """CREATE FUNCTION generations_usage() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN PERFORM usage_daily_add(OLD, -1); END IF;
        IF TG_OP <> 'DELETE' THEN PERFORM usage_daily_add(NEW, 1); END IF;
        RETURN NULL;
    END
    $$""",
    "CREATE TRIGGER generations_usage_change AFTER INSERT OR DELETE ON generations "
    "FOR EACH ROW EXECUTE FUNCTION generations_usage()",
    "CREATE TRIGGER generations_usage_update AFTER UPDATE ON generations FOR EACH ROW WHEN ("
    + " OR ".join(f"OLD.{c} IS DISTINCT FROM NEW.{c}" for c in COUNTED_COLUMNS)
    + ") EXECUTE FUNCTION generations_usage()",
)


def _backfill(day: str, text_type: str) -> tuple[str, ...]:
    """Summaries of the rows already there."""
    ms = TIME_MS.format(g="generations")
    insert = "INSERT INTO usage_daily (dimension, user_id, day, value, generations, neurons, time_ms) "
    return (
        insert + f"SELECT 'status', user_id, {day}, status, count(*), sum(neurons), 0 FROM generations "
        f"GROUP BY user_id, {day}, status",
        insert + f"SELECT 'steps', user_id, {day}, CAST(steps AS {text_type}), count(*), sum(neurons), 0 "
        f"FROM generations GROUP BY user_id, {day}, steps",
        insert + f"SELECT 'reason', user_id, {day}, coalesce(error_reason, 'unknown'), count(*), sum(neurons), 0 "
        f"FROM generations WHERE status = 'failed' GROUP BY user_id, {day}, coalesce(error_reason, 'unknown')",
        insert + f"SELECT 'time', user_id, {day}, CAST({BUCKET.format(ms=f'({ms})')} AS {text_type}), count(*), "
        f"sum(neurons), sum({ms}) FROM generations WHERE status = 'succeeded' AND generate_ms IS NOT NULL "
        f"GROUP BY user_id, {day}, {BUCKET.format(ms=f'({ms})')}",
    )


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "usage_daily",
        sa.Column("dimension", sa.String(8), primary_key=True),  # status | steps | reason | time
        sa.Column("user_id", sa.Integer(), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),  # UTC
        sa.Column("value", sa.String(32), primary_key=True),  # the status, steps, reason or time bucket
        sa.Column("generations", sa.Integer(), nullable=False),
        sa.Column("neurons", sa.Float(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),  # summed time to image (the "time" dimension)
    )
    if dialect == "sqlite":
        for statement in (*SQLITE_SEARCH, *SQLITE_USAGE, *_backfill("substr(created_at, 1, 10)", "TEXT")):
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in (POSTGRESQL_SEARCH, *POSTGRESQL_USAGE, *_backfill("CAST(created_at AS date)", "varchar")):
            op.execute(statement)
    # Gallery "Mine": one user's visible images, in id (= time) order, so a page is a short index range.
    op.create_index(
        "ix_generations_gallery_user",
        "generations",
        ["user_id", "id"],
        sqlite_where=sa.text(VISIBLE_SQLITE),
        postgresql_where=sa.text(VISIBLE_POSTGRESQL),
    )
    # Gallery "Community": shared, visible images in id order.
    op.create_index(
        "ix_generations_gallery_public",
        "generations",
        ["id"],
        sqlite_where=sa.text("is_public = 1 AND " + VISIBLE_SQLITE),
        postgresql_where=sa.text("is_public AND " + VISIBLE_POSTGRESQL),
    )


def downgrade() -> None:
    op.drop_index("ix_generations_gallery_public", table_name="generations")
    op.drop_index("ix_generations_gallery_user", table_name="generations")
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("generations_usage_update", "generations_usage_delete", "generations_usage_insert",
                        "generations_fts_update", "generations_fts_delete", "generations_fts_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS generations_fts")
    elif dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS generations_usage_update ON generations")
        op.execute("DROP TRIGGER IF EXISTS generations_usage_change ON generations")
        op.execute("DROP FUNCTION IF EXISTS generations_usage()")
        op.execute("DROP FUNCTION IF EXISTS usage_daily_add(generations, integer)")
        op.execute("DROP INDEX IF EXISTS ix_generations_prompt_search")
    op.drop_table("usage_daily")
