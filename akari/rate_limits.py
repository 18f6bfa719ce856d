"""Requests per key over the last sixty seconds, a sliding window counted in the database for every process."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from akari.db.models import ApiHit, utcnow
from akari.db.transactions import serialise

_HITS = ApiHit.__table__
WINDOW = timedelta(minutes=1)
# Hits are kept per second; older ones are swept now and then by whoever opens a new second.
KEEP = timedelta(minutes=5)
# Built once: an API call runs these on every request.
_RECENT = (select(_HITS.c.window, _HITS.c.hits)
           .where(_HITS.c.key == bindparam("key"), _HITS.c.window > bindparam("since"))
           .order_by(_HITS.c.window))
_ADD = {name: dialect.insert(_HITS).values(key=bindparam("key"), window=bindparam("window"), hits=1)
        .on_conflict_do_update(index_elements=[_HITS.c.key, _HITS.c.window], set_={"hits": _HITS.c.hits + 1})
        .returning(_HITS.c.hits)
        for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}


def _second(now: datetime) -> datetime:
    return now.replace(microsecond=0)


def _recent(connection: Connection, key: str, now: datetime) -> list[tuple[datetime, int]]:
    """The key's counts per second over the last minute, oldest first. No upper bound: a process whose clock read
    came a moment earlier still sees what a later one counted."""
    rows = connection.execute(_RECENT, {"key": key, "since": _second(now) - WINDOW})
    return [(window, int(hits)) for window, hits in rows]


def _wait(recent: Sequence[tuple[datetime, int]], limit: int, now: datetime) -> int | None:
    """Seconds until fewer than `limit` hits remain in the window, or None when there already are."""
    excess = sum(hits for _, hits in recent) - limit + 1
    if excess <= 0:
        return None
    for window, hits in recent:
        excess -= hits
        if excess <= 0:
            return max(1, math.ceil((window + WINDOW - now).total_seconds()))
    raise AssertionError("unreachable: the counts cover the excess")


def wait_for(connection: Connection, key: str, limit: int, now: datetime | None = None) -> int | None:
    """Seconds until the key is under `limit` again, or None when it is now. A read: nothing is counted."""
    now = now or utcnow()
    return _wait(_recent(connection, key, now), limit, now)


def count_hit(connection: Connection, key: str, now: datetime | None = None) -> None:
    """Count one request for `key`, whatever the limit (a failed attempt counts even while the key waits)."""
    _add(connection, key, now or utcnow())


def take(connection: Connection, key: str, limit: int, now: datetime | None = None) -> int | None:
    """Count one request if fewer than `limit` came in the last minute and return None; otherwise count nothing and
    return the seconds to wait (for Retry-After). A refused request does not use up the allowance, so a client that
    waits as told gets through. Serialised per key: parallel callers in any process never pass the limit."""
    now = now or utcnow()
    serialise(connection, f"rate:{key}")
    wait = _wait(_recent(connection, key, now), limit, now)
    if wait is None:
        _add(connection, key, now)
    return wait


def _add(connection: Connection, key: str, now: datetime) -> None:
    second = _second(now)
    hits = connection.execute(_ADD[connection.dialect.name], {"key": key, "window": second}).scalar_one()
    if hits == 1:  # a new second: sweep, so the table stays small
        old = _HITS.c.window < second - KEEP
        # This key's old rows every time (a short walk of the primary key); everyone's once a minute.
        connection.execute(delete(_HITS).where(old if second.second == 0 else old & (_HITS.c.key == key)))
