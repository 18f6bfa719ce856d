"""A second app process for sign-in race tests: tries one password from several threads at once, then reports.

    python -m tests.signin_harness USERNAME PASSWORD COUNT [--client C] [--go FILE]

Settings come from the environment, as for the app. With --go, the threads start together once FILE exists (so two
processes are released at the same instant). Prints one JSON line: {"checks": passwords checked, "signed_in": n,
"refused": n}.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

from akari import accounts as accounts_module
from akari.errors import AkariError
from akari.studio import Studio
from tests.waiting import eventually


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("username")
    parser.add_argument("password")
    parser.add_argument("count", type=int)
    parser.add_argument("--client", default="203.0.113.9")
    parser.add_argument("--go", type=Path)
    args = parser.parse_args()
    studio = Studio.open(run_migrations=False)
    checks = []
    real_matches = accounts_module.password_matches

    def counting(password: str, password_hash: str | None) -> bool:
        checks.append(1)
        return real_matches(password, password_hash)

    accounts_module.password_matches = counting  # this process's own code, at its boundary: the count is the point
    barrier = threading.Barrier(args.count)
    results: list[str] = []
    if args.go is not None:  # all processes start checking together, when the test creates this file
        eventually(args.go.exists, timeout=120, interval=0.005)

    def attempt() -> None:
        barrier.wait()
        try:
            studio.accounts.sign_in(args.username, args.password, client=args.client)
            results.append("signed_in")
        except AkariError:
            results.append("refused")

    threads = [threading.Thread(target=attempt) for _ in range(args.count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    studio.close()
    print(json.dumps({"checks": len(checks), "signed_in": results.count("signed_in"),
                      "refused": results.count("refused")}))


if __name__ == "__main__":
    main()
