"""Benchmark: the usage split by model and a submit's cost with models, on SQLite.

- `Usage.by_model` (from the per-day summaries' model key, migration 0007) at 10k and 1M generations of demo
  data, for everyone over 30 days and a year, and for one member over 30 days;
- one submit (model resolved, inputs checked, both quotas reserved, row inserted) with no workers, default model
  and a model named with a size.
Prints min and median in milliseconds.

    .venv/bin/python scripts/bench_models.py [--sizes 10000 1000000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(action: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return min(times), statistics.median(times)


def bench_size(size: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "AKARI_DATA_DIR": folder, "AKARI_WORKERS": "0"}
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "akari", "demo-data", "--rows", str(size)], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        load = time.perf_counter() - started
        os.environ.update({"AKARI_DATA_DIR": folder, "AKARI_WORKERS": "0"})
        from akari.config import load_settings
        from akari.db.models import User
        from akari.models_catalog import get_model
        from akari.prompts import GenerationRequest
        from akari.quota import start_of_day_utc
        from akari.studio import Studio
        from akari.usage import Usage, UsageFilter

        studio = Studio.open(load_settings())
        usage = Usage(studio)
        admin = studio.ensure_service_user("bench.admin")
        with studio.session() as session:
            session.get(User, admin).roles = ["admin"]
        member = studio.user_id("demo.ada")
        today = start_of_day_utc().date()

        class Viewer:
            def __init__(self, viewer_id: int) -> None:
                self.id = viewer_id

        studio.quotas.set_default(10**9)
        studio.quotas.set_default_neurons(10.0**12)
        phoenix = get_model("@cf/leonardo/phoenix-1.0")
        rows = {
            "by model, everyone, 30 days": lambda: usage.by_model(
                Viewer(admin), UsageFilter(today - timedelta(days=29), today)),
            "by model, everyone, 1 year": lambda: usage.by_model(
                Viewer(admin), UsageFilter(today - timedelta(days=364), today)),
            "by model, one member, 30 days": lambda: usage.by_model(
                Viewer(member), UsageFilter(today - timedelta(days=29), today, member)),
            "submit, default model": lambda: studio.generations.submit(
                admin, GenerationRequest("a lighthouse at dusk")),
            "submit, Phoenix 16:9 + negative prompt": lambda: studio.generations.submit(
                admin, GenerationRequest("a lighthouse at dusk", steps=25, model=phoenix.id, width=1024, height=576,
                                         negative_prompt="fog")),
        }
        print(f"\n{size:,} rows (demo-data load {load:.1f} s)")
        for name, action in rows.items():
            low, median = timed(action, repeat)
            print(f"  {name:42s} min {low:7.1f} ms   median {median:7.1f} ms")
        studio.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    for size in args.sizes:
        bench_size(size, args.repeat)


if __name__ == "__main__":
    main()
