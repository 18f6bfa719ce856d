"""The generations table becomes a durable job queue; usage summaries are fed by an append-only delta table.

- generations: a lease owned by a process instance (not host:pid), claim attempts, the spooled image kept
  write-ahead, upload retries with backoff, the provider's request id, the source (ui, api, cli) and the token
  that makes the stored image's name deterministic and unguessable.
- instances: every process that runs work, with its heartbeat.
- usage_delta: the triggers append each change of a counted column here (inserts never lock shared rows, so two
  generations can no longer deadlock on the per-day summaries); one writer at a time folds them into usage_daily.
- Local images are named by their key, relative to the image folder: absolute paths are dropped, and the demo
  rows' shared pictures get keys of a read-only "demo" store.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None



def _migration_0002() -> ModuleType:
    """0002's module: what a generation contributes to the summaries is defined there, once."""
    spec = importlib.util.spec_from_file_location("akari_migration_0002", Path(__file__).with_name("0002_search.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


V2 = _migration_0002()
_contributions = V2._contributions
COUNTED_COLUMNS = V2.COUNTED_COLUMNS
DELTA_COLUMNS = "(dimension, user_id, day, value, generations, neurons, time_ms)"


def _sqlite_delta(g: str, sign: str) -> str:
    return f"""INSERT INTO usage_delta {DELTA_COLUMNS}
        SELECT c.dimension, {g}.user_id, substr({g}.created_at, 1, 10), c.value, {sign}1, {sign}{g}.neurons, {sign}c.ms
        FROM ({_contributions(g, "TEXT")}) AS c;"""


_CHANGED_SQLITE = " OR ".join(f"old.{c} IS NOT new.{c}" for c in COUNTED_COLUMNS)
SQLITE_USAGE = (
    f"CREATE TRIGGER generations_usage_insert AFTER INSERT ON generations BEGIN {_sqlite_delta('new', '+')} END",
    f"CREATE TRIGGER generations_usage_delete AFTER DELETE ON generations BEGIN {_sqlite_delta('old', '-')} END",
    f"""CREATE TRIGGER generations_usage_update AFTER UPDATE ON generations WHEN {_CHANGED_SQLITE} BEGIN
        {_sqlite_delta('old', '-')}
        {_sqlite_delta('new', '+')}
    END""",
)
# The trigger function keeps its name and calls; only what it writes changes.
POSTGRESQL_USAGE = f"""CREATE OR REPLACE FUNCTION usage_daily_add(g generations, direction integer) RETURNS void
    LANGUAGE sql AS $$
        INSERT INTO usage_delta {DELTA_COLUMNS}
        SELECT c.dimension, g.user_id, CAST(g.created_at AS date), c.value, direction, direction * g.neurons,
               direction * c.ms
        FROM ({_contributions("g", "varchar")}) AS c
    $$"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.alter_column("generations", "runner", new_column_name="lease_owner", existing_type=sa.String(128))
    for column in (
        sa.Column("source", sa.String(8), nullable=False, server_default="ui"),
        sa.Column("asset_token", sa.String(32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("spool_key", sa.String(255), nullable=True),
        sa.Column("spool_host", sa.String(128), nullable=True),
        sa.Column("upload_attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
    ):
        op.add_column("generations", column)
    # The queue: queued rows by age, leased rows by owner.
    op.create_index("ix_generations_queue", "generations", ["status", "id"],
                    sqlite_where=sa.text("status IN ('queued', 'running', 'pending_upload')"),
                    postgresql_where=sa.text("status IN ('queued', 'running', 'pending_upload')"))
    # Fair claims: when did this user last get a worker.
    op.create_index("ix_generations_user_started", "generations", ["user_id", "started_at"])
    op.create_table(
        "instances",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),  # app | worker | cli
        sa.Column("workers", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "usage_delta",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("dimension", sa.String(8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("value", sa.String(32), nullable=False),
        sa.Column("generations", sa.Integer(), nullable=False),
        sa.Column("neurons", sa.Float(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
    )
    if dialect == "sqlite":
        for trigger in ("generations_usage_update", "generations_usage_delete", "generations_usage_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        for statement in SQLITE_USAGE:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(POSTGRESQL_USAGE)
    _local_paths_to_keys()
    # Images already waiting for upload were spooled as <id>.<ext> in this data folder.
    op.execute("UPDATE generations SET spool_key = CAST(id AS VARCHAR(20)) || '.' || CASE image_format "
               "WHEN 'png' THEN 'png' WHEN 'webp' THEN 'webp' ELSE 'jpg' END WHERE status = 'pending_upload'")


def _local_paths_to_keys() -> None:
    """Keys relative to the image folder, so a moved or restored data directory keeps every local image."""
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE generations SET image_url = NULL, thumbnail_url = NULL "
                         "WHERE store = 'local' AND image_key IS NOT NULL"))
    demo_urls = bind.execute(sa.text(
        "SELECT DISTINCT image_url FROM generations WHERE store = 'local' AND image_key IS NULL "
        "AND image_url LIKE '%/demo/place-%'")).scalars().all()
    for url in demo_urls:
        key = "demo/" + url.replace("\\", "/").rsplit("/", 1)[-1]
        bind.execute(sa.text("UPDATE generations SET store = 'demo', image_key = :key, image_url = NULL, "
                             "thumbnail_url = NULL WHERE image_url = :url"), {"key": key, "url": url})


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("generations_usage_update", "generations_usage_delete", "generations_usage_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    # Summaries stay exact: what the deltas hold is folded in before the table goes.
    op.execute(f"""INSERT INTO usage_daily AS u {DELTA_COLUMNS}
        SELECT dimension, user_id, day, value, sum(generations), sum(neurons), sum(time_ms) FROM usage_delta
        WHERE true GROUP BY dimension, user_id, day, value
        ON CONFLICT (dimension, user_id, day, value) DO UPDATE SET generations = u.generations + excluded.generations,
            neurons = u.neurons + excluded.neurons, time_ms = u.time_ms + excluded.time_ms""")
    op.drop_table("usage_delta")
    op.drop_table("instances")
    op.drop_index("ix_generations_queue", table_name="generations")
    op.drop_index("ix_generations_user_started", table_name="generations")
    for name in ("request_id", "next_attempt_at", "upload_attempts", "spool_host", "spool_key", "attempts",
                 "asset_token", "source"):
        op.drop_column("generations", name)
    op.alter_column("generations", "lease_owner", new_column_name="runner", existing_type=sa.String(128))
    if dialect == "sqlite":
        for statement in V2.SQLITE_USAGE:
            op.execute(statement)
    elif dialect == "postgresql":
        op.execute(V2.POSTGRESQL_USAGE[0].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
