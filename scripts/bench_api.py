"""Benchmark: the time the HTTP API adds over the core for one image, and GET /api/generations at scale.

1. One image at a time, N times, with the Workers AI fake in a process of its own and the local disk: through the
   core (`GenerationService.generate` in this process) and through `POST /api/image-generation` on the real server
   (`streamlit run server.py`, a new HTTP connection per request, see FRESH). For each image, wall time minus the
   time in the generator and the store; the API's extra is the difference of the medians (goal: under 15 ms).
2. `GET /api/generations` on a server whose database holds `--rows` demo generations (`python -m akari demo-data`,
   SQLite): requests per second from 4 client threads for a few seconds, for the first page of one user's images,
   the shared ones, a search, and a page deep in the history.

    .venv/bin/python scripts/bench_api.py [--images 30] [--rows 1000000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
from sqlalchemy import update

from akari.config import load_settings
from akari.db.models import User
from akari.prompts import GenerationRequest
from akari.studio import Studio
from scripts.bench_pipeline import fake
from tests.e2e.servers import ROOT, AppServer

# A connection per request, like most scripts that call the API.
FRESH = {"Connection": "close"}
QUICK = {"AKARI_WORKERS": "4", "AKARI_API_RATE_PER_MINUTE": "1000000", "AKARI_STORE": "local"}


def _figures(values: list[float]) -> str:
    return f"min {min(values):7.1f}  median {statistics.median(values):7.1f}"


def _open_studio(data_dir: str, env: dict[str, str]) -> Studio:
    return Studio.open(load_settings(env={"AKARI_DATA_DIR": data_dir, **env}))


def core_extras(env: dict[str, str], images: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        studio = _open_studio(tmp, env)
        try:
            user_id = studio.ensure_service_user("bench")
            with studio.session() as session:
                session.execute(update(User).where(User.id == user_id).values(daily_quota=100_000))
            studio.start_workers()
            studio.generations.generate(user_id, GenerationRequest(prompt="warm-up", seed=0))
            extras = []
            for n in range(images):
                started = time.perf_counter()
                record = studio.generations.generate(user_id, GenerationRequest(prompt=f"a lighthouse {n}", seed=n))
                wall = (time.perf_counter() - started) * 1000
                assert record.status == "succeeded", record.error_message
                extras.append(wall - (record.generate_ms or 0) - (record.store_ms or 0))
            return extras
        finally:
            studio.close()


def api_extras(env: dict[str, str], images: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        server = AppServer(Path(tmp) / "data", env=env).start()
        try:
            studio = Studio.open(load_settings(env={"AKARI_DATA_DIR": str(server.data_dir), **env}),
                                 run_migrations=False)
            user_id = studio.ensure_service_user("bench")
            with studio.session() as session:
                session.execute(update(User).where(User.id == user_id).values(daily_quota=100_000))
            token = studio.tokens.create(None, user_id, "bench").token
            studio.close()
            headers = {"Authorization": f"Bearer {token}", **FRESH}
            url = f"{server.url}/api/image-generation"
            requests.post(url, json={"prompt": "warm-up", "seed": 0}, headers=headers, timeout=60).raise_for_status()
            extras = []
            for n in range(images):
                started = time.perf_counter()
                answer = requests.post(url, json={"prompt": f"a lighthouse {n}", "seed": n}, headers=headers,
                                       timeout=60)
                wall = (time.perf_counter() - started) * 1000
                answer.raise_for_status()
                timings = answer.json()["timings"]
                extras.append(wall - (timings["generate_ms"] or 0) - (timings["store_ms"] or 0))
            return extras
        finally:
            server.stop()


def overhead(images: int) -> None:
    print(f"\n1. One image at a time, {images} images; milliseconds beyond the generator and the store")
    with fake("tests.fakes.workers_ai", "--image-size", "512", lines=4) as workers_ai:
        env = {**workers_ai, **QUICK}
        core = core_extras(env, images)
        api = api_extras(env, images)
    print(f"   core (submit, queue, worker, spool, rows, wake-up)   {_figures(core)}")
    print(f"   HTTP API (the same + token, HTTP, JSON)              {_figures(api)}")
    added = statistics.median(api) - statistics.median(core)
    print(f"   the API adds: median {added:.1f} ms, min {min(api) - min(core):.1f} ms (goal: median < 15 ms)")


def _hammer(server: AppServer, token: str, path: str, seconds: float, threads: int = 4) -> tuple[float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        headers = {"Authorization": f"Bearer {token}", **FRESH}
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            answer = requests.get(server.url + path, headers=headers, timeout=60)
            mine.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 200, answer.text
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return len(latencies) / (time.monotonic() - started), latencies


def listing(rows: int, seconds: float) -> None:
    print(f"\n2. GET /api/generations with {rows:,} generations (SQLite), 4 client threads, {seconds:g} s each")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "CLOUDINARY_", "AKARI_"))}
        env["AKARI_DATA_DIR"] = str(data)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "akari", "demo-data", "--rows", str(rows)], cwd=ROOT, env=env,
                       check=True, capture_output=True)
        print(f"   demo-data load: {time.perf_counter() - started:.1f} s")
        created = subprocess.run([sys.executable, "-m", "akari", "tokens", "create", "demo.ada", "--name", "bench"],
                                 cwd=ROOT, env=env, check=True, capture_output=True, text=True)
        token = created.stdout.strip().splitlines()[-1]
        server = AppServer(data, env={"AKARI_WORKERS": "0", "AKARI_API_RATE_PER_MINUTE": "1000000"}).start()
        try:
            deep = requests.get(f"{server.url}/api/generations?mine=1&limit=1",
                                headers={"Authorization": f"Bearer {token}"}, timeout=60).json()["next_cursor"]
            for label, path in (("mine, first page (24)", "/api/generations?mine=1"),
                                ("shared, first page", "/api/generations"),
                                ("mine, search 'lighthouse'", "/api/generations?mine=1&q=lighthouse"),
                                ("mine, a page deep in the history", f"/api/generations?mine=1&cursor={deep // 3}")):
                rate, latencies = _hammer(server, token, path, seconds)
                print(f"   {label:<36} {rate:7.1f} requests/s   latency {_figures(latencies)} ms")
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    overhead(args.images)
    listing(args.rows, args.seconds)


if __name__ == "__main__":
    main()
