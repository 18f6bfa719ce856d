"""A worker process for crash tests: runs the real pipeline and, when asked, stops dead at a chosen moment.

    python -m tests.crash_harness MARKER_DIR [--pause]

Settings come from the environment, as for the app. With --pause, a generation whose prompt names a moment in
brackets blocks there for good, after writing MARKER_DIR/<moment>, so the test can kill -9 the process exactly
then. Moments: [after-provider] (image in memory, nothing written), [after-spool] (spooled and recorded, upload not
started), [after-upload] (stored, row not yet told), [after-success] (row says succeeded, spool file still there).
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from akari.spool import Spool
from akari.stores import ImageMeta, StoredImage
from akari.studio import Studio

MOMENTS = ("after-provider", "after-spool", "after-upload", "after-success")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("markers", type=Path)
    parser.add_argument("--pause", action="store_true")
    args = parser.parse_args()
    args.markers.mkdir(parents=True, exist_ok=True)
    studio = Studio.open()
    if args.pause:
        _pause_at_moments(studio, args.markers)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    studio.start_workers(8)
    (args.markers / "ready").write_text("ready")
    stop.wait()
    studio.close()


def _pause_at_moments(studio: Studio, markers: Path) -> None:
    def stop_here(prompt: str, moment: str) -> None:
        if f"[{moment}]" in prompt:
            (markers / moment).write_text(prompt)
            threading.Event().wait()  # until the test kills this process

    def prompt_of(generation_id: int) -> str:
        return studio.generations.get(generation_id).prompt

    real_put, real_remove = Spool.put, Spool.remove

    def put(spool: Spool, generation_id: int, data: bytes, fmt: str) -> str:
        stop_here(prompt_of(generation_id), "after-provider")
        return real_put(spool, generation_id, data, fmt)

    def remove(spool: Spool, key: str) -> None:
        stop_here(prompt_of(int(key.split(".", 1)[0])), "after-success")
        real_remove(spool, key)

    Spool.put, Spool.remove = put, remove  # type: ignore[method-assign]
    store = studio.stores.current
    real_save = store.save

    def save(data: bytes, *, name: str, fmt: str, private: bool, meta: ImageMeta) -> StoredImage:
        stop_here(meta.prompt, "after-spool")
        stored = real_save(data, name=name, fmt=fmt, private=private, meta=meta)
        stop_here(meta.prompt, "after-upload")
        return stored

    store.save = save  # type: ignore[method-assign]


if __name__ == "__main__":
    main()
