"""Transactions that hold under concurrency: serialised writes, retried deadlocks, database failures in words."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from akari.errors import DatabaseUnavailable

log = logging.getLogger("akari.db")

T = TypeVar("T")
# Deadlock, serialisation failure, lock not available: the transaction lost a race and may simply run again.
_TRANSIENT_SQLSTATES = {"40P01", "40001", "55P03"}
_TRANSIENT_SQLITE = ("database is locked", "database table is locked")
_FULL = ("database or disk is full", "no space left", "could not extend file", "disk full")
_READ_ONLY = ("readonly database", "read-only", "attempt to write a readonly")
UNAVAILABLE_MESSAGE = "The studio's database cannot be reached right now. Please try again in a minute."
FULL_MESSAGE = "The studio's database is out of space, so nothing could be saved. Ask your administrator."
READ_ONLY_MESSAGE = "The studio's database is read-only right now, so nothing could be saved. Ask your administrator."


def _sqlstate(exc: BaseException) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def is_transient(exc: BaseException) -> bool:
    """A lost race (deadlock, serialisation failure, SQLite busy): running the transaction again will do."""
    if not isinstance(exc, DBAPIError):
        return False
    if _sqlstate(exc) in _TRANSIENT_SQLSTATES:
        return True
    return any(text in str(exc.orig).lower() for text in _TRANSIENT_SQLITE)


def translated(exc: SQLAlchemyError) -> DatabaseUnavailable:
    """A database failure as a sentence for the user; the driver's text stays in the detail, for the log."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    detail = f"{type(exc).__name__}: {str(getattr(exc, 'orig', None) or exc).splitlines()[0][:300]}"
    if any(marker in text for marker in _FULL) or _sqlstate(exc) == "53100":
        return DatabaseUnavailable(FULL_MESSAGE, detail=detail, reason="database_full")
    if any(marker in text for marker in _READ_ONLY) or _sqlstate(exc) == "25006":
        return DatabaseUnavailable(READ_ONLY_MESSAGE, detail=detail, reason="database_read_only")
    return DatabaseUnavailable(UNAVAILABLE_MESSAGE, detail=detail)


def serialise(transaction: Session | Connection, name: str) -> None:
    """Make this write transaction the only one holding `name` until it ends. SQLite: every write transaction
    already holds the database's write lock from BEGIN IMMEDIATE. PostgreSQL: a transaction-scoped advisory lock."""
    bind = transaction if isinstance(transaction, Connection) else transaction.get_bind()
    if bind.dialect.name == "postgresql":
        transaction.execute(text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": name})


def retrying(work: Callable[[], T], *, attempts: int = 6, what: str = "a database write") -> T:
    """Run `work` (one whole transaction) again when it loses a race; other failures go through."""
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DBAPIError as exc:
            if not is_transient(exc) or attempt == attempts:
                raise
            delay = min(0.02 * 2**attempt, 1.0) * (0.5 + random.random())
            log.info("%s lost a race (%s); trying again in %.0f ms", what, _sqlstate(exc) or "busy", delay * 1000)
            time.sleep(delay)
    raise AssertionError("unreachable")


def persistently(work: Callable[[], T], *, give_up_after: float, what: str,
                 stopping: Callable[[], bool] = lambda: False) -> T:
    """Run `work` until it succeeds, through outages, for up to `give_up_after` seconds (backing off to 5 s).

    For the writes that must land (a finished image's row): the database may be down or full for a while.
    Raises DatabaseUnavailable once the time is up.
    """
    deadline = time.monotonic() + give_up_after
    delay = 0.1
    while True:
        try:
            return retrying(work, what=what)
        except SQLAlchemyError as exc:
            if time.monotonic() + delay > deadline or stopping():
                raise translated(exc) from exc
            log.warning("%s failed, retrying in %.1f s: %s", what, delay, translated(exc).detail)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
