"""Several command lines in one process (`python -m tests.e2e.cli_batch`, argv lists as JSON on stdin): setting up
a page of images costs one interpreter start, not one per image. Prints each run's output as a JSON list."""

from __future__ import annotations

import contextlib
import io
import json
import sys

from akari.cli import main as cli_main


def main() -> int:
    outputs = []
    for argv in json.load(sys.stdin):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli_main(argv)
        if code != 0:
            print(f"python -m akari {' '.join(argv)} exited with {code}", file=sys.stderr)
            return code
        outputs.append(out.getvalue())
    json.dump(outputs, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
