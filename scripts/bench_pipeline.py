"""Benchmark: what the pipeline adds on top of the provider calls, and how a burst of generations is served.

1. Overhead per image: N generations one after another through the real service (validation, the quota check and
   insert in one serialised step, a worker's claim, three guarded row writes, the spool's fsync'd write-ahead, the
   wake-up of the waiter). Overhead = wall time - time in the generator - time in the store.
2. A burst: B generations submitted at once against a fake Workers AI that takes L seconds per image, with
   AKARI_WORKERS workers; the time until the last one is stored, as a multiple of L (goal: under 1.3 x L with 32).

Providers are the local fakes, each in a process of its own (like the real services, they take no CPU time from
the app's process). Prints min and median over the repeats.

    .venv/bin/python scripts/bench_pipeline.py [--images 40] [--burst 32] [--latency 1.0] [--repeat 3]
                                               [--database sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import update

from akari.config import load_settings
from akari.db.models import User
from akari.prompts import GenerationRequest
from akari.studio import Studio
from tests.db_fixtures import POSTGRES_ADMIN_URL, _postgres_reachable, postgres_schema_url

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def database(kind: str, folder: str) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder}/akari.db"
    else:
        urls = postgres_schema_url()  # a fresh schema, dropped when the generator is closed
        try:
            yield next(urls)
        finally:
            urls.close()


@contextmanager
def studio(env: dict[str, str], kind: str, workers: int) -> Iterator[tuple[Studio, int]]:
    with tempfile.TemporaryDirectory() as tmp, database(kind, tmp) as url:
        settings = load_settings(env={"AKARI_DATA_DIR": tmp, "AKARI_DATABASE_URL": url, "AKARI_WORKERS": str(workers),
                                      **env})
        opened = Studio.open(settings)
        user_id = opened.ensure_service_user("bench")
        with opened.session() as session:
            session.execute(update(User).where(User.id == user_id).values(daily_quota=100_000))
        opened.start_workers()
        try:
            yield opened, user_id
        finally:
            opened.close()


@contextmanager
def fake(module: str, *args: str, lines: int) -> Iterator[dict[str, str]]:
    """A fake provider in its own process; yields the variables that point Akari at it."""
    process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield dict(process.stdout.readline().strip().split("=", 1) for _ in range(lines))
    finally:
        process.terminate()
        process.wait(timeout=10)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def overhead(label: str, env: dict[str, str], kind: str, images: int) -> None:
    with studio(env, kind, workers=4) as (opened, user_id):
        opened.generations.generate(user_id, GenerationRequest(prompt="warm-up", seed=0))
        totals, generate, store = [], [], []
        for n in range(images):
            started = time.perf_counter()
            record = opened.generations.generate(user_id, GenerationRequest(prompt=f"a lighthouse {n}", seed=n))
            totals.append((time.perf_counter() - started) * 1000)
            assert record.status == "succeeded", record.error_message
            generate.append(float(record.generate_ms or 0))
            store.append(float(record.store_ms or 0))
    extra = [t - g - s for t, g, s in zip(totals, generate, store, strict=True)]
    cells = [f"{statistics.median(v):7.1f} / {_pct(v, 0.95):7.1f}" for v in (totals, generate, store, extra)]
    print(f"{label:<46}" + "".join(f"{c:>20}" for c in cells))


def burst(env: dict[str, str], kind: str, size: int, latency: float, workers: int, repeat: int) -> None:
    times = []
    for _ in range(repeat):
        with studio(env, kind, workers) as (opened, user_id):
            started = time.perf_counter()
            ids = [opened.generations.submit(user_id, GenerationRequest(prompt=f"burst {n}", seed=n))
                   for n in range(size)]
            records = [opened.generations.wait(i, timeout=600) for i in ids]
            times.append(time.perf_counter() - started)
            assert {r.status for r in records} == {"succeeded"}, {r.error_message for r in records}
    print(f"{size} at once, {workers:>2} workers, {kind:<10}: min {min(times):6.2f} s  median "
          f"{statistics.median(times):6.2f} s  = {statistics.median(times) / latency:4.2f} x L (L = {latency:g} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--burst", type=int, default=32)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" in kinds and _postgres_reachable():
        print(f"PostgreSQL at {POSTGRES_ADMIN_URL} is unreachable: SQLite only.")
        kinds = ["sqlite"]

    print(f"\n1. Overhead per image, {args.images} images one after another; milliseconds, median / p95")
    print(f"{'configuration':<46}" + "".join(f"{h:>20}" for h in ("total", "generator", "store", "pipeline")))
    with fake("tests.fakes.workers_ai", lines=4) as workers_ai, \
            fake("tests.fakes.cloudinary_server", lines=2) as cloudinary:
        for kind in kinds:
            overhead(f"offline renderer + local disk, {kind}", {}, kind, args.images)
            overhead(f"Workers AI + Cloudinary (fakes), {kind}", {**workers_ai, **cloudinary}, kind, args.images)

    print(f"\n2. A burst of {args.burst} against a Workers AI that takes {args.latency:g} s an image "
          "(stored on the Cloudinary fake)")
    # Small images: the fake draws each one on its own CPU, which a real provider does not do on yours.
    with fake("tests.fakes.workers_ai", "--latency", str(args.latency), "--image-size", "256", lines=4) as wai, \
            fake("tests.fakes.cloudinary_server", lines=2) as cloudinary:
        for kind in kinds:
            for workers in (4, 32):
                burst({**wai, **cloudinary}, kind, args.burst, args.latency, workers, args.repeat)


if __name__ == "__main__":
    main()
