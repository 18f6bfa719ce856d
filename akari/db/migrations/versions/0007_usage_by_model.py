"""Usage by model from the summaries: usage_daily / usage_delta get a `model` key, as 0004 added `source`.

Also an index on generations.reference_key (the rows that have one): deleting a generation asks whether any other
live generation still uses its uploaded reference image.

The summaries are rebuilt from the generations (they are exactly a function of them) and the triggers append the
model with each change, so the split by model reads a few summary rows per day instead of every generation.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
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
V4 = _migration("0004_api.py")
DELTA_COLUMNS = "(dimension, user_id, day, value, source, model, generations, neurons, time_ms)"
KEY = ("dimension", "user_id", "day", "value", "source")


def _sqlite_delta(g: str, sign: str) -> str:
    return f"""INSERT INTO usage_delta {DELTA_COLUMNS}
        SELECT c.dimension, {g}.user_id, substr({g}.created_at, 1, 10), c.value, {g}.source, {g}.model, {sign}1,
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
        SELECT c.dimension, g.user_id, CAST(g.created_at AS date), c.value, g.source, g.model, direction,
               direction * g.neurons, direction * c.ms
        FROM ({V2._contributions("g", "varchar")}) AS c
    $$"""


def _summary_table(name: str, *, with_model: bool) -> None:
    columns = [
        sa.Column("dimension", sa.String(8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.String(32), nullable=False),
        sa.Column("source", sa.String(8), nullable=False, server_default="ui"),
    ]
    if with_model:
        columns.append(sa.Column("model", sa.String(128), nullable=False, server_default=""))
    key = (*KEY, "model") if with_model else KEY
    op.create_table(name, *columns,
                    sa.Column("generations", sa.Integer(), nullable=False),
                    sa.Column("neurons", sa.Float(), nullable=False),
                    sa.Column("time_ms", sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint(*key, name=f"{name}_pkey"))


def _by_model(statement: str) -> str:
    """0004's backfill (0002's, by source), split by model as well."""
    return (V4._by_source(statement)
            .replace("(dimension, source, user_id,", "(dimension, source, model, user_id,")
            .replace("', source, user_id, ", "', source, model, user_id, ", 1)
            .replace("GROUP BY source, user_id,", "GROUP BY source, model, user_id,"))


def _swap_summaries(with_model: bool) -> None:
    """usage_daily again, with or without the model key; its figures carried over exactly."""
    dialect = op.get_bind().dialect.name
    _summary_table("usage_daily_new", with_model=with_model)
    if with_model:
        # The generations hold the model; the old summaries do not. The summaries are a function of the rows.
        op.execute("DELETE FROM usage_delta")
        day = "substr(created_at, 1, 10)" if dialect == "sqlite" else "CAST(created_at AS date)"
        text_type = "TEXT" if dialect == "sqlite" else "varchar"
        for statement in V2._backfill(day, text_type):
            op.execute(_by_model(statement.replace("INSERT INTO usage_daily ", "INSERT INTO usage_daily_new ")))
    else:
        columns = ", ".join(KEY)
        op.execute(f"INSERT INTO usage_daily_new ({columns}, generations, neurons, time_ms) "
                   f"SELECT {columns}, sum(generations), sum(neurons), sum(time_ms) FROM "
                   f"(SELECT {columns}, generations, neurons, time_ms FROM usage_daily "
                   f"UNION ALL SELECT {columns}, generations, neurons, time_ms FROM usage_delta) AS s "
                   f"GROUP BY {columns}")
        op.execute("DELETE FROM usage_delta")
    op.drop_table("usage_daily")
    op.rename_table("usage_daily_new", "usage_daily")
    if dialect == "postgresql":
        op.execute("ALTER TABLE usage_daily RENAME CONSTRAINT usage_daily_new_pkey TO usage_daily_pkey")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # The triggers first, so nothing is appended without its model from here on.
    op.add_column("usage_delta", sa.Column("model", sa.String(128), nullable=False, server_default=""))
    if dialect == "sqlite":
        for trigger in V4.USAGE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in SQLITE_USAGE:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(POSTGRESQL_USAGE)
    _swap_summaries(with_model=True)
    op.create_index("ix_generations_reference", "generations", ["reference_key"],
                    sqlite_where=sa.text("reference_key IS NOT NULL"),
                    postgresql_where=sa.text("reference_key IS NOT NULL"))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.drop_index("ix_generations_reference", table_name="generations")
    if dialect == "sqlite":
        for trigger in V4.USAGE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    _swap_summaries(with_model=False)
    op.drop_column("usage_delta", "model")
    if dialect == "sqlite":
        for statement in V4.SQLITE_USAGE:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(V4.POSTGRESQL_USAGE)
