"""Print the SQL statements one rerun of the Gallery, Usage and Admin pages sends, for a signed-in administrator.

Run: .venv/bin/python scripts/count_queries.py [--rows N] [--show]
Each page runs once to warm up (sign-in, caches), then once more: the second run's statements are counted
(transaction control, BEGIN and COMMIT, left out).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = {"Gallery": "pages/gallery.py", "Usage": "pages/usage.py", "Admin": "pages/admin.py"}
PASSWORD = "correct horse battery"


def count(rows: int, show: bool) -> dict[str, list[str]]:
    from sqlalchemy import event
    from streamlit.testing.v1 import AppTest

    from akari import runtime
    from akari.cli import main as cli
    from akari.roles import ADMIN

    statements: list[str] = []
    cli(["demo-data", "--rows", str(rows), "--users", "4", "--days", "30", "--seed", "1"])
    studio = runtime.open_studio(workers=False)
    studio.accounts.create_user("root", PASSWORD, roles=(ADMIN,))
    def record(_connection: object, _cursor: object, statement: str, *_rest: object) -> None:
        if statement.strip().upper() not in ("BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"):
            statements.append(" ".join(statement.split()))

    event.listen(studio.engine, "before_cursor_execute", record)
    seen: dict[str, list[str]] = {}
    for name, script in PAGES.items():
        at = AppTest.from_file(str(ROOT / script), default_timeout=60)
        at.run()
        at.text_input(key="signin_username").input("root")
        at.text_input(key="signin_password").input(PASSWORD)
        at.button(key="signin_submit").click().run()
        at.run()  # warm: caches filled, the cookie written
        statements.clear()
        at.run()
        if at.exception:
            raise SystemExit(f"{name} failed: {at.exception[0].value}")
        seen[name] = list(statements)
    runtime.close_studio()
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000, help="synthetic generations to load first")
    parser.add_argument("--show", action="store_true", help="print each statement too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"AKARI_DATA_DIR": tmp, "AKARI_BCRYPT_ROUNDS": "4", "AKARI_WORKERS": "0",
                           "AKARI_SECRETS_FILE": str(Path(tmp) / "none.toml")})
        seen = count(args.rows, args.show)
    print(f"SQL statements in one rerun (SQLite, {args.rows:,} rows, signed-in administrator):")
    for name, statements in seen.items():
        print(f"  {name:8} {len(statements):3}")
        if args.show:
            for statement, times in Counter(statements).most_common():
                print(f"      {times} x {statement[:150]}")


if __name__ == "__main__":
    main()
