"""Sign-in costs: the session check every page run makes, the API token check every API call makes (with its rate
limit), and a sign-in attempt (reservation, bcrypt, settling) for a known and an unknown username. Prints min and
median in milliseconds, on SQLite and (if it answers) PostgreSQL.

    .venv/bin/python scripts/bench_signin.py [--rounds 12] [--repeat 200]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _ms(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return min(times), statistics.median(times)


def _bench(label: str, url: str, rounds: int, repeat: int) -> None:
    from akari.accounts import Accounts
    from akari.db import migrate
    from akari.db.engine import make_engine, make_session_factory
    from akari.errors import AuthError
    from akari.signins import SignIns
    from akari.tokens import Tokens

    engine = make_engine(url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    accounts, signins = Accounts(sessions), SignIns(sessions, "bench-" + "k3Y_q9Zr2Lp7Xm4Vb8Nc1Hd6Jf0Gs5")
    user = accounts.create_user("alice", "correct horse battery")
    session_id = signins.start(user.id).id
    check = _ms(lambda: signins.user(session_id), repeat)
    tokens = Tokens(sessions, rate_per_minute=10 * repeat)  # counted, never refused
    token = tokens.create(user, user.id, "bench").token
    api = _ms(lambda: tokens.authenticate(token, "10.0.0.1"), repeat)

    def attempt(name: str) -> None:
        with contextlib.suppress(AuthError):  # a fresh client each time: no pause gets in the way
            accounts.sign_in(name, "a wrong guess", client=f"bench-{time.perf_counter_ns()}")

    slow = max(3, repeat // 20)
    known = _ms(lambda: attempt("alice"), slow)
    unknown = _ms(lambda: attempt("nobody"), slow)
    print(f"{label}: session check per page run  min {check[0]:.2f} ms  median {check[1]:.2f} ms")
    print(f"{label}: API token check per call    min {api[0]:.2f} ms  median {api[1]:.2f} ms")
    print(f"{label}: wrong password, known user  min {known[0]:.1f} ms  median {known[1]:.1f} ms "
          f"(bcrypt cost {rounds})")
    print(f"{label}: wrong password, unknown user min {unknown[0]:.1f} ms  median {unknown[1]:.1f} ms")
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    os.environ["AKARI_BCRYPT_ROUNDS"] = str(args.rounds)

    from sqlalchemy import create_engine, text

    urls = {"SQLite": f"sqlite:///{tempfile.mkdtemp()}/bench.db"}
    pg = os.environ.get("AKARI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        with create_engine(pg).connect() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS akari_bench_signin CASCADE"))
            conn.execute(text("CREATE SCHEMA akari_bench_signin"))
            conn.commit()
        urls["PostgreSQL"] = f"{pg}?options=-csearch_path%3Dakari_bench_signin"
    except Exception as exc:  # a benchmark: say why PostgreSQL is left out and go on
        print(f"PostgreSQL left out: {type(exc).__name__}")
    for label, url in urls.items():
        _bench(label, url, args.rounds, args.repeat)
    if "PostgreSQL" in urls:
        with create_engine(pg).connect() as conn:
            conn.execute(text("DROP SCHEMA akari_bench_signin CASCADE"))
            conn.commit()


if __name__ == "__main__":
    main()
