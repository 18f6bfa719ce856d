"""Benchmark: what one gallery click costs the app process, with 1, 5 and 20 people paging at once.

A real app (`streamlit run server.py`) serves a demo history; headless Chromium sessions sign in as one member, open
the gallery and click "Older" again and again, each waiting for the run to settle (every thumbnail requested by
the browser included). Demo rows share a dozen stand-in pictures, so the newest rows are first given pictures of
their own, as in a real gallery: every thumbnail of a click is a new request to the app's `/images` route. Prints
the app process's CPU-seconds per click (from /proc), the click times (min and median) and the process's resident
memory, per number of concurrent sessions.

    .venv/bin/python scripts/bench_clicks.py [--sessions 1 5 20] [--clicks 6] [--rows 5000] [--shared-pictures]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.async_api import Browser, BrowserContext, Page  # noqa: E402

from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.e2e.servers import AppServer  # noqa: E402

MEMBER = "demo.ada"
PASSWORD = "correct horse battery staple"


def own_pictures(data: Path, rows: int) -> None:
    """Give the newest successful demo rows a local picture each (a copy of their stand-in, under its own key)."""
    from sqlalchemy import text

    from akari.config import load_settings
    from akari.stores.local import thumbnail_key
    from akari.studio import Studio

    studio = Studio.open(load_settings(env={"AKARI_DATA_DIR": str(data), "AKARI_BCRYPT_ROUNDS": "4"}))
    demo, local = studio.stores.get("demo"), studio.stores.get("local")
    with studio.engine.begin() as conn:
        found = conn.execute(text("SELECT id, image_key FROM generations WHERE status = 'succeeded' AND store = 'demo' "
                                  "ORDER BY created_at DESC, id DESC LIMIT :n"), {"n": rows}).all()
        if len(found) < rows // 2:
            raise SystemExit(f"only {len(found)} demo pictures to replace: make more --rows")
        for row_id, old in found:
            key = f"{row_id % 100:02d}/g{row_id}-bench.jpg"
            for size, name in (("full", key), ("thumb", thumbnail_key(key))):
                target = local.root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(demo.path(old, size).read_bytes())
            conn.execute(text("UPDATE generations SET store = 'local', image_key = :key WHERE id = :id"),
                         {"key": key, "id": row_id})
    studio.close()


def resident_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def settle(page: Page) -> None:
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stApp\"][data-test-script-state=\"running\"]')"
        " && document.querySelector('[data-testid=\"stApp\"][data-test-script-state=\"notRunning\"]')")
    # The thumbnails the click asked for have arrived.
    await page.wait_for_function("() => Array.from(document.images).every(image => image.complete)")


async def open_gallery(browser: Browser, url: str) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    await page.goto(f"{url}/gallery")
    await page.get_by_role("textbox", name="Username", exact=True).fill(MEMBER)
    await page.get_by_role("textbox", name="Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("button", name="Older").first.wait_for()
    await settle(page)
    return context, page


FIRST_CARD = "() => document.querySelector('[class*=\"st-key-gallery_open_\"]')?.className"


async def click_older(page: Page, times: list[float], clicks: int) -> None:
    for _ in range(clicks):
        shown = await page.evaluate(FIRST_CARD)
        started = time.perf_counter()
        await page.get_by_role("button", name="Older").first.click()
        # The click is done when the next page's cards replaced these and the run settled.
        await page.wait_for_function(f"(shown) => ({FIRST_CARD})() !== shown", arg=shown)
        await settle(page)
        times.append(time.perf_counter() - started)


async def measure(url: str, pid: int, sessions: int, clicks: int) -> tuple[float, list[float]]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        opened = [await open_gallery(browser, url) for _ in range(sessions)]
        times: list[float] = []
        before = cpu_seconds(pid)
        await asyncio.gather(*(click_older(page, times, clicks) for _context, page in opened))
        spent = cpu_seconds(pid) - before
        await browser.close()
    return spent / (sessions * clicks), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 5, 20])
    parser.add_argument("--clicks", type=int, default=6)
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--shared-pictures", action="store_true",
                        help="keep the demo rows' shared pictures (the browser caches them after the first click)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        env = {**os.environ, "AKARI_DATA_DIR": str(data), "AKARI_BCRYPT_ROUNDS": "4", "PYTHONPATH": str(ROOT),
               "AKARI_SECRETS_FILE": str(data / "none.toml")}
        python = [sys.executable, "-m", "akari"]
        subprocess.run([*python, "demo-data", "--rows", str(args.rows), "--users", "4", "--days", "30"],
                       env=env, check=True, capture_output=True)
        subprocess.run([*python, "users", "reset-password", MEMBER], input=f"{PASSWORD}\n{PASSWORD}\n",
                       text=True, env=env, check=True, capture_output=True)
        if not args.shared_pictures:
            own_pictures(data, rows=3000)
        server = AppServer(data).start()
        try:
            print(f"Gallery clicks ('Older'), {args.rows:,} demo rows, {args.clicks} clicks per session:")
            print(f"  {'sessions':>8}  {'CPU-s per click':>15}  {'click min':>9}  {'click median':>12}  {'memory':>8}")
            for sessions in args.sessions:
                per_click, times = asyncio.run(measure(server.url, server.process.pid, sessions, args.clicks))
                print(f"  {sessions:>8}  {per_click:>15.3f}  {min(times):>8.2f}s  {statistics.median(times):>11.2f}s"
                      f"  {resident_mb(server.process.pid):>5.0f} MB")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
