"""Rate limits count over the last sixty seconds, not per clock minute: a burst either side of a minute's end is
still one burst, the wait told is the real one, and a refused request does not use up the allowance."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from akari import rate_limits
from akari.db import migrate
from akari.db.engine import IMMEDIATE, make_engine
from akari.db.models import ApiHit
from tests import gallery_data

database_url = gallery_data.database_url
postgres_database = gallery_data.postgres_database

# Three seconds before a clock minute ends: the fixed window this replaced let a second burst through at once.
EDGE = datetime(2026, 11, 30, 10, 0, 57, 500000)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = make_engine(database_url)
    migrate.upgrade(made)
    yield made.execution_options(**{IMMEDIATE: True})
    made.dispose()


def take(engine: Engine, key: str, limit: int, now: datetime) -> int | None:
    with engine.begin() as connection:
        return rate_limits.take(connection, key, limit, now)


def test_a_burst_across_a_minute_boundary_is_still_limited(engine: Engine) -> None:
    assert [take(engine, "k", 10, EDGE) for _ in range(6)] == [None] * 6
    after_the_minute = EDGE + timedelta(seconds=3)
    outcomes = [take(engine, "k", 10, after_the_minute) for _ in range(6)]
    assert outcomes[:4] == [None] * 4
    # Counts are kept per second: the first six leave the window when 10:01:57 begins, 56.5 s from now.
    assert outcomes[4:] == [57, 57]


def test_the_allowance_comes_back_as_the_oldest_requests_leave_the_window(engine: Engine) -> None:
    for second in range(5):
        assert take(engine, "k", 5, EDGE + timedelta(seconds=second)) is None
    assert take(engine, "k", 5, EDGE + timedelta(seconds=10)) == 50
    assert take(engine, "k", 5, EDGE + timedelta(seconds=59)) == 1
    assert take(engine, "k", 5, EDGE + timedelta(seconds=60)) is None  # the first one has left
    assert take(engine, "k", 5, EDGE + timedelta(seconds=60, milliseconds=100)) == 1


def test_a_refused_request_does_not_use_up_the_allowance(engine: Engine) -> None:
    for _ in range(3):
        assert take(engine, "k", 3, EDGE) is None
    for second in range(1, 40):  # a client that keeps knocking
        assert take(engine, "k", 3, EDGE + timedelta(seconds=second)) is not None
    assert take(engine, "k", 3, EDGE + timedelta(seconds=60)) is None


def test_failed_attempts_count_and_are_read_over_the_same_window(engine: Engine) -> None:
    for second in range(4):
        with engine.begin() as connection:
            rate_limits.count_hit(connection, "fail:10.0.0.1", EDGE + timedelta(seconds=second))
    with engine.connect() as connection:
        assert rate_limits.wait_for(connection, "fail:10.0.0.1", 4, EDGE + timedelta(seconds=5)) == 55
        assert rate_limits.wait_for(connection, "fail:10.0.0.1", 5, EDGE + timedelta(seconds=5)) is None
        assert rate_limits.wait_for(connection, "fail:10.0.0.1", 4, EDGE + timedelta(seconds=61)) is None
        assert rate_limits.wait_for(connection, "fail:10.0.0.2", 1, EDGE) is None


def test_parallel_takes_never_pass_the_limit_even_across_a_second(engine: Engine) -> None:
    barrier = threading.Barrier(16)
    outcomes: list[int | None] = []

    def call(index: int) -> None:
        barrier.wait()
        # Half the callers read their clock a second later, as a process a moment behind another would.
        outcomes.append(take(engine, "k", 6, EDGE + timedelta(seconds=index % 2)))

    threads = [threading.Thread(target=call, args=(index,)) for index in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(None) == 6


def test_old_counts_are_swept(engine: Engine) -> None:
    take(engine, "old", 5, EDGE - timedelta(hours=2))
    take(engine, "other-old", 5, EDGE - timedelta(hours=2))
    take(engine, "old", 5, EDGE)  # a new second of this key: its own old rows go
    with engine.connect() as connection:
        keys = connection.execute(select(ApiHit.key, func.count()).group_by(ApiHit.key)).all()
    assert dict(keys) == {"old": 1, "other-old": 1}
    take(engine, "new", 5, EDGE.replace(minute=1, second=0))  # once a minute everyone's old rows go
    with engine.connect() as connection:
        keys = connection.execute(select(ApiHit.key)).scalars().all()
    assert sorted(keys) == ["new", "old"]
