"""A second app process for race tests: submits generations from several threads at once, then reports.

    python -m tests.submit_harness USERNAME COUNT [--threads T] [--go FILE] [--workers W] [--wait]

Settings come from the environment, as for the app. With --go, the threads start together once FILE exists (so two
processes can be released at the same instant). With --workers, this process also runs generations; with --wait it
waits for its own to finish. Prints one JSON line: {"accepted": [...ids], "refused": {reason: count},
"statuses": {status: count}}.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from akari.errors import AkariError
from akari.prompts import GenerationRequest
from akari.studio import Studio


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("username")
    parser.add_argument("count", type=int)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--go", type=Path)
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--wait", action="store_true")
    args = parser.parse_args()
    studio = Studio.open()
    if args.workers:
        studio.start_workers(args.workers)
    user_id = studio.user_id(args.username)
    assert user_id is not None, f"no user {args.username}"
    barrier = threading.Barrier(min(args.threads, args.count))
    while args.go is not None and not args.go.exists():
        time.sleep(0.01)

    def submit(n: int) -> int | str:
        if n < barrier.parties:
            barrier.wait()
        try:
            return studio.generations.submit(user_id, GenerationRequest(prompt=f"race {n} of {args.count}"))
        except AkariError as exc:
            return exc.reason

    with ThreadPoolExecutor(args.threads) as pool:
        results = list(pool.map(submit, range(args.count)))
    accepted = [r for r in results if isinstance(r, int)]
    refused: dict[str, int] = {}
    for result in results:
        if isinstance(result, str):
            refused[result] = refused.get(result, 0) + 1
    statuses: dict[str, int] = {}
    if args.wait:
        for generation_id in accepted:
            status = studio.generations.wait(generation_id, timeout=300).status
            statuses[status] = statuses.get(status, 0) + 1
    studio.close()
    print(json.dumps({"accepted": accepted, "refused": refused, "statuses": statuses}), flush=True)


if __name__ == "__main__":
    main()
