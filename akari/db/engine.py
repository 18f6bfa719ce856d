"""Engine and session factory: SQLite in WAL mode with real transactions; PostgreSQL pooled for the workers."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option that makes a SQLite transaction take the write lock at BEGIN.
IMMEDIATE = "akari_immediate"


class _TurnTakingConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions take turns with this process's others in a queue.

    SQLite makes a writer that finds the database locked sleep and retry (1, 2, 5, 10, 25 ms...), so thirty workers
    finishing at once lose far more time sleeping than writing. Within one process they queue on a lock instead and
    each goes the moment the previous one commits; other processes still meet SQLite's own locking.
    """

    turns: threading.RLock  # set for every connection of an engine: one per database

    def take_turn(self) -> None:
        if not self.turns.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            raise sqlite3.OperationalError("database is locked")
        self._holding = getattr(self, "_holding", 0) + 1

    def _end_turn(self) -> None:
        while getattr(self, "_holding", 0):
            self._holding -= 1
            self.turns.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn()


def _on_sqlite_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # Autocommit at the driver: transactions are begun by us (below), so BEGIN IMMEDIATE is possible and the
    # driver never opens one behind our back.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    # WAL + NORMAL is durable against application crashes and much faster than FULL.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(IMMEDIATE, False)
    driver = connection.connection.driver_connection
    if immediate and isinstance(driver, _TurnTakingConnection):
        driver.take_turn()
    # Straight to the driver: a statement through SQLAlchemy costs more than the BEGIN itself, on every transaction.
    driver.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")  # type: ignore[union-attr]


def make_engine(database_url: str, *, connections: int = 10) -> Engine:
    """`connections`: how many threads may hold a connection at once (workers plus page runs)."""
    url = make_url(database_url)
    pool = {"pool_size": max(5, connections), "max_overflow": 10, "pool_timeout": 30}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        # Background workers share the engine.
        turns = threading.RLock()
        engine = create_engine(url, connect_args={"check_same_thread": False, "factory": _TurnTakingConnection,
                                                  "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **pool)

        def give_turns(dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
            dbapi_connection.turns = turns
            _on_sqlite_connect(dbapi_connection, record)

        event.listen(engine, "connect", give_turns)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, **pool)


class WriteFirstSession(Session):
    """`begin()` announces a write: on SQLite the transaction takes the write lock at BEGIN (IMMEDIATE), waiting
    its turn under the busy timeout. A transaction that read first and wrote later could instead fail at once
    with "database is locked" whenever another writer got in between (WAL cannot upgrade a stale snapshot), and a
    count followed by the insert it allows would not be serialised. Plain reads (`sessions()`) stay deferred and
    never wait. PostgreSQL ignores the option."""

    def begin(self, nested: bool = False):  # type: ignore[no-untyped-def, override]
        transaction = super().begin(nested=nested)
        if not nested:
            self.connection(execution_options={IMMEDIATE: True})
        return transaction


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, class_=WriteFirstSession, expire_on_commit=False)
