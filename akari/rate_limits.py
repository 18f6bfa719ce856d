"""Per-minute request counts kept in the database, so a limit holds across every process of the studio."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from akari.db.models import ApiHit, utcnow

_HITS = ApiHit.__table__
# Old windows are swept now and then by whoever opens a new one; an hour is far beyond any window we read.
KEEP = timedelta(hours=1)


def window_of(now: datetime) -> datetime:
    return now.replace(second=0, microsecond=0)


def seconds_left(now: datetime) -> int:
    """Seconds until the current one-minute window ends (for Retry-After)."""
    return max(1, 60 - now.second)


def count_hit(connection: Connection, key: str, now: datetime | None = None) -> int:
    """Count one request for `key` in this minute, atomically (an upsert); returns the minute's count so far."""
    now = now or utcnow()
    window = window_of(now)
    upsert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(_HITS)
    statement = upsert.values(key=key, window=window, hits=1).on_conflict_do_update(
        index_elements=[_HITS.c.key, _HITS.c.window], set_={"hits": _HITS.c.hits + 1}
    ).returning(_HITS.c.hits)
    hits = int(connection.execute(statement).scalar_one())
    if hits == 1:
        connection.execute(delete(_HITS).where(_HITS.c.window < window - KEEP))  # the table stays small
    return hits


def hits(connection: Connection, key: str, now: datetime | None = None) -> int:
    """This minute's count for `key`, without counting."""
    window = window_of(now or utcnow())
    found = connection.execute(select(_HITS.c.hits).where(_HITS.c.key == key, _HITS.c.window == window)).scalar()
    return int(found or 0)
