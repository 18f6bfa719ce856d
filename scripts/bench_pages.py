"""Benchmark: Gallery and Usage page script times and memory at 10k and 1M generations on SQLite.

For each size, a fresh database is filled with `python -m akari demo-data`, then a separate process (so sizes do not
share memory or caches) runs the real pages through AppTest (app.py's navigation) as a signed-in user and times:
  - gallery, first page ("Mine" of the busiest user) and a prompt search;
  - usage, a member's last 30 days, and an administrator's everyone-view over 30 days and over a year;
each as the whole page script (AppTest run, figures cache emptied before every run) and as the bare core call.
It prints medians, the process's peak RSS and the peak of Python allocations while the pages ran (tracemalloc).

    .venv/bin/python scripts/bench_pages.py [--sizes 10000 1000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEMBER = "demo.ada"  # the busiest demo user: the largest "Mine"
ADMIN = "bench.admin"
PASSWORD = "correct horse battery staple"
SEARCH = "lighthouse"
COLUMNS = (
    ("load_s", "load (s)"),
    ("gallery_page", "gallery first page"),
    ("gallery_search", "gallery search"),
    ("usage_member", "usage member 30 d"),
    ("usage_admin", "usage admin 30 d"),
    ("usage_admin_year", "usage admin 1 y"),
)


# -- one size, in its own process ------------------------------------------------------------------------------------
def _median_ms(action: Callable[[], object], repeat: int, before: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(repeat):
        if before:
            before()
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(repeat: int) -> dict[str, float]:
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.testing.v1 import AppTest

    from akari.db.models import User
    from akari.gallery import Gallery, GalleryQuery
    from akari.studio import Studio
    from akari.usage import Usage, UsageFilter
    from tests.ui_fixtures import seed_session

    studio = Studio.open()
    studio.accounts.set_password(MEMBER, PASSWORD)  # demo users have no password until given one
    if studio.accounts.current_user(ADMIN) is None:
        studio.accounts.create_user(ADMIN, PASSWORD, roles=("admin",))
    with studio.sessions() as session:
        member_id = session.query(User.id).filter(User.username == MEMBER).scalar()
        admin_id = session.query(User.id).filter(User.username == ADMIN).scalar()

    class Viewer:
        def __init__(self, user_id: int) -> None:
            self.id = user_id

    member, admin = Viewer(member_id), Viewer(admin_id)
    gallery, usage = Gallery(studio), Usage(studio)
    core = {
        "gallery_page": lambda: gallery.page(member, GalleryQuery()),
        "gallery_search": lambda: gallery.page(member, GalleryQuery(search=SEARCH)),
        "usage_member": lambda: usage.report(member, UsageFilter.last_days(30, member_id)),
        "usage_admin": lambda: usage.report(admin, UsageFilter.last_days(30)),
        "usage_admin_year": lambda: usage.report(admin, UsageFilter.last_days(365)),
    }
    results: dict[str, float] = {}
    for name, action in core.items():
        action()
        results[f"core_{name}"] = _median_ms(action, repeat)

    def page(file: str, username: str, **state: object) -> AppTest:
        """The page reached through app.py's navigation, as a signed-in user."""
        PagesManager.uses_pages_directory = None
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.secrets["cookie_key"] = "bEnch-K3y_Qw9Zr2Lp7Xm4Vb8Nc1Hd6Jf0Gs5Ka"
        seed_session(at, username)
        at.run()  # the first run imports and opens the studio: not timed
        at.switch_page(f"pages/{file}")
        for key, value in state.items():
            at.session_state[key] = value
        at.run()
        if at.exception:
            raise RuntimeError(f"{file}: {at.exception}")
        return at

    def timed(at: AppTest, prepare: Callable[[AppTest], None] | None = None) -> float:
        def run() -> None:
            at.run()
            if at.exception:
                raise RuntimeError(str(at.exception))

        def before() -> None:
            st.cache_data.clear()  # cold figures, as after the cache's 30 s; the studio itself stays open
            if prepare:
                prepare(at)

        return _median_ms(run, repeat, before)

    def search(at: AppTest) -> None:
        at.text_input(key="gallery_search").set_value(SEARCH)

    def year(at: AppTest) -> None:
        at.segmented_control(key="usage_range").set_value("1 year")

    runs = {
        "gallery_page": lambda: timed(page("gallery.py", MEMBER)),
        "gallery_search": lambda: timed(page("gallery.py", MEMBER), search),
        "usage_member": lambda: timed(page("usage.py", MEMBER)),
        "usage_admin": lambda: timed(page("usage.py", ADMIN)),
        "usage_admin_year": lambda: timed(page("usage.py", ADMIN), year),
    }
    for name, run in runs.items():
        results[f"page_{name}"] = run()
        assert results[f"page_{name}"] > 0
    # Allocations while each page runs once more, traced apart: tracing slows Python down several times.
    tracemalloc.start()
    for name in runs:
        tracemalloc.reset_peak()
        {"gallery_page": lambda: page("gallery.py", MEMBER).run(),
         "gallery_search": lambda: page("gallery.py", MEMBER, gallery_search=SEARCH).run(),
         "usage_member": lambda: page("usage.py", MEMBER).run(),
         "usage_admin": lambda: page("usage.py", ADMIN).run(),
         "usage_admin_year": lambda: page("usage.py", ADMIN, usage_range="1 year").run()}[name]()
        results[f"traced_{name}"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    studio.close()
    return results


# -- the driver --------------------------------------------------------------------------------------------------------
def bench_size(rows: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="akari-bench-") as tmp:
        env = {**os.environ, "AKARI_DATA_DIR": tmp, "AKARI_BCRYPT_ROUNDS": "4", "PYTHONPATH": str(ROOT)}
        env = {k: v for k, v in env.items() if not k.startswith(("CLOUDFLARE_", "CLOUDINARY_"))}
        env.pop("AKARI_DATABASE_URL", None)  # always a fresh SQLite file
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "akari", "demo-data", "--rows", str(rows), "--users", "8",
                        "--days", "180"], env=env, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
        load_s = time.perf_counter() - started
        out = subprocess.run([sys.executable, __file__, "--measure", "--repeat", str(repeat)], env=env, check=True,
                             cwd=ROOT, capture_output=True, text=True)
        results = json.loads(out.stdout.strip().splitlines()[-1])
        results["load_s"] = load_s
        results["db_mb"] = (Path(tmp) / "akari.db").stat().st_size / 2**20
        return results


def print_table(all_results: dict[int, dict[str, float]]) -> None:
    sizes = list(all_results)
    width = 36
    print(f"\n{'':{width}}" + "".join(f"{n:>14,}" for n in sizes))
    print(f"{'database file (MB)':{width}}" + "".join(f"{all_results[n]['db_mb']:>14.0f}" for n in sizes))
    print(f"{'demo-data load (s)':{width}}" + "".join(f"{all_results[n]['load_s']:>14.1f}" for n in sizes))
    for key, label in COLUMNS[1:]:
        print(f"{label + ', page script (ms)':{width}}" + "".join(f"{all_results[n][f'page_{key}']:>14.1f}"
                                                              for n in sizes))
        print(f"{label + ', core call (ms)':{width}}" + "".join(f"{all_results[n][f'core_{key}']:>14.2f}"
                                                            for n in sizes))
    for key, label in COLUMNS[1:]:
        print(f"{label + ', traced peak (MB)':{width}}" + "".join(f"{all_results[n][f'traced_{key}']:>14.1f}"
                                                              for n in sizes))
    print(f"{'process peak RSS (MB)':{width}}" + "".join(f"{all_results[n]['peak_rss_mb']:>14.0f}" for n in sizes))
    print("\nPage script: AppTest run of app.py showing the page, as a signed-in user, figures cache emptied "
          "before each run (median).\nCore call: the gallery or usage function alone (median). "
          "Target: each page < 500 ms at 1M rows.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        import logging

        logging.disable(logging.WARNING)  # AppTest outside a server logs a warning per run
        print(json.dumps(measure(args.repeat)))
        return 0
    all_results = {}
    for rows in args.sizes:
        print(f"{rows:,} rows: loading and measuring…", file=sys.stderr, flush=True)
        all_results[rows] = bench_size(rows, args.repeat)
    print_table(all_results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
