"""Benchmark: the time the pipeline adds on top of the provider calls for one image.

Runs N generations through the real service (validation, quota, database rows, background worker, spool checks)
and prints, per configuration, the median and p95 of: total wall time, time inside the generator, time inside the
store, and the rest (the pipeline's own overhead). Providers are the local fakes, so their latency is near zero
and the overhead is what remains.

    .venv/bin/python scripts/bench_pipeline.py [--images 40]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from akari.config import load_settings
from akari.prompts import GenerationRequest
from akari.studio import Studio
from tests.fakes.cloudinary_server import FakeCloudinary
from tests.fakes.workers_ai import FakeWorkersAI


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(label: str, env: dict[str, str], images: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={"AKARI_DATA_DIR": tmp, "AKARI_DAILY_QUOTA": str(images + 10), **env})
        studio = Studio.open(settings)
        user_id = studio.ensure_service_user("bench")
        totals, generate, store = [], [], []
        studio.generations.generate(user_id, GenerationRequest(prompt="warm-up", seed=0))
        for n in range(images):
            started = time.perf_counter()
            record = studio.generations.generate(user_id, GenerationRequest(prompt=f"a lighthouse {n}", seed=n))
            totals.append((time.perf_counter() - started) * 1000)
            assert record.status == "succeeded", record.error_message
            generate.append(float(record.generate_ms or 0))
            store.append(float(record.store_ms or 0))
        studio.close()
    overhead = [t - g - s for t, g, s in zip(totals, generate, store, strict=True)]
    row = [label]
    for values in (totals, generate, store, overhead):
        row.append(f"{statistics.median(values):7.1f} / {_pct(values, 0.95):7.1f}")
    print(" | ".join(f"{cell:<38}" if i == 0 else f"{cell:>17}" for i, cell in enumerate(row)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    args = parser.parse_args()
    print(f"{args.images} images each; milliseconds, median / p95")
    header = ["configuration", "total", "generator", "store", "pipeline overhead"]
    print(" | ".join(f"{h:<38}" if i == 0 else f"{h:>17}" for i, h in enumerate(header)))
    run("offline renderer + local disk", {}, args.images)
    with FakeWorkersAI() as workers_ai, FakeCloudinary() as cloudinary:
        run("Workers AI + Cloudinary (local fakes)", {**workers_ai.env(), "CLOUDINARY_URL": cloudinary.cloudinary_url},
            args.images)
    print("database: SQLite (default). Overhead: validation, quota check, three row writes, worker hand-off.")


if __name__ == "__main__":
    main()
