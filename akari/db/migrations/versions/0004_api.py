"""The HTTP API: personal tokens (hashes only), per-minute request counts for its rate limits, and usage by source.

- api_tokens: a token's SHA-256, name, expiry, last use and revocation; the token itself is never stored.
- api_hits: requests per key (a token, a client address's failed attempts) and minute, shared by every process.
- usage_daily / usage_delta: a `source` key (ui, api, cli), so every usage figure can be filtered by where the
  generations were asked for. The summaries are rebuilt from the generations (they are exactly a function of them)
  and the triggers of 0003 append the source with each change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _migration(name: str) -> ModuleType:
    """An earlier migration's module: what a generation contributes to the summaries is defined there, once."""
    spec = importlib.util.spec_from_file_location(f"akari_migration_{name[:4]}", Path(__file__).with_name(name))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


V2 = _migration("0002_search.py")
V3 = _migration("0003_queue.py")
DELTA_COLUMNS = "(dimension, user_id, day, value, source, generations, neurons, time_ms)"
SUMMARY_KEY = ("dimension", "user_id", "day", "value")
USAGE_TRIGGERS = ("generations_usage_update", "generations_usage_delete", "generations_usage_insert")


def _sqlite_delta(g: str, sign: str) -> str:
    return f"""INSERT INTO usage_delta {DELTA_COLUMNS}
        SELECT c.dimension, {g}.user_id, substr({g}.created_at, 1, 10), c.value, {g}.source, {sign}1,
               {sign}{g}.neurons, {sign}c.ms
        FROM ({V2._contributions(g, "TEXT")}) AS c;"""


SQLITE_USAGE = (
    f"CREATE TRIGGER generations_usage_insert AFTER INSERT ON generations BEGIN {_sqlite_delta('new', '+')} END",
    f"CREATE TRIGGER generations_usage_delete AFTER DELETE ON generations BEGIN {_sqlite_delta('old', '-')} END",
    f"""CREATE TRIGGER generations_usage_update AFTER UPDATE ON generations WHEN {V3._CHANGED_SQLITE} BEGIN
        {_sqlite_delta('old', '-')}
        {_sqlite_delta('new', '+')}
    END""",
)
POSTGRESQL_USAGE = f"""CREATE OR REPLACE FUNCTION usage_daily_add(g generations, direction integer) RETURNS void
    LANGUAGE sql AS $$
        INSERT INTO usage_delta {DELTA_COLUMNS}
        SELECT c.dimension, g.user_id, CAST(g.created_at AS date), c.value, g.source, direction,
               direction * g.neurons, direction * c.ms
        FROM ({V2._contributions("g", "varchar")}) AS c
    $$"""


def _summary_table(name: str, *, with_source: bool) -> None:
    columns = [
        sa.Column("dimension", sa.String(8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.String(32), nullable=False),
    ]
    if with_source:
        columns.append(sa.Column("source", sa.String(8), nullable=False, server_default="ui"))
    key = (*SUMMARY_KEY, "source") if with_source else SUMMARY_KEY
    op.create_table(name, *columns,
                    sa.Column("generations", sa.Integer(), nullable=False),
                    sa.Column("neurons", sa.Float(), nullable=False),
                    sa.Column("time_ms", sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint(*key, name=f"{name}_pkey"))


def _swap_summaries(with_source: bool) -> None:
    """usage_daily again, with or without the source key; its figures carried over exactly."""
    dialect = op.get_bind().dialect.name
    _summary_table("usage_daily_new", with_source=with_source)
    if with_source:
        # The generations hold the source; the old summaries do not. The summaries are a function of the rows.
        op.execute("DELETE FROM usage_delta")
        day = "substr(created_at, 1, 10)" if dialect == "sqlite" else "CAST(created_at AS date)"
        text_type = "TEXT" if dialect == "sqlite" else "varchar"
        for statement in V2._backfill(day, text_type):
            op.execute(_by_source(statement.replace("INSERT INTO usage_daily ", "INSERT INTO usage_daily_new ")))
    else:
        op.execute("INSERT INTO usage_daily_new (dimension, user_id, day, value, generations, neurons, time_ms) "
                   "SELECT dimension, user_id, day, value, sum(generations), sum(neurons), sum(time_ms) FROM "
                   "(SELECT dimension, user_id, day, value, generations, neurons, time_ms FROM usage_daily "
                   "UNION ALL SELECT dimension, user_id, day, value, generations, neurons, time_ms "
                   "FROM usage_delta) AS s GROUP BY dimension, user_id, day, value")
        op.execute("DELETE FROM usage_delta")
    op.drop_table("usage_daily")
    op.rename_table("usage_daily_new", "usage_daily")
    if dialect == "postgresql":
        op.execute("ALTER TABLE usage_daily RENAME CONSTRAINT usage_daily_new_pkey TO usage_daily_pkey")


def _by_source(statement: str) -> str:
    """0002's backfill, split by source as well."""
    return (statement
            .replace("(dimension, user_id, day, value, generations",
                     "(dimension, source, user_id, day, value, generations")
            .replace("', user_id, ", "', source, user_id, ", 1)
            .replace("GROUP BY user_id,", "GROUP BY source, user_id,"))


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=True),
        sa.Column("last_used_at", sa.DateTime(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_api_tokens_user", "api_tokens", ["user_id"])
    op.create_table(
        "api_hits",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("window", sa.DateTime(), primary_key=True),
        sa.Column("hits", sa.Integer(), nullable=False),
    )
    # Usage by source: the triggers first, so nothing is appended without its source from here on.
    op.add_column("usage_delta", sa.Column("source", sa.String(8), nullable=False, server_default="ui"))
    if dialect == "sqlite":
        for trigger in USAGE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in SQLITE_USAGE:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(POSTGRESQL_USAGE)
    _swap_summaries(with_source=True)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in USAGE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    _swap_summaries(with_source=False)
    op.drop_column("usage_delta", "source")
    if dialect == "sqlite":
        for statement in V3.SQLITE_USAGE:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(V3.POSTGRESQL_USAGE)
    op.drop_table("api_hits")
    op.drop_index("ix_api_tokens_user", table_name="api_tokens")
    op.drop_table("api_tokens")
