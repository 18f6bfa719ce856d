"""Background generation: a thread pool that outlives a page rerun, with jobs looked up by generation id."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout


class JobRunner:
    def __init__(self, max_workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="akari-gen")
        self._jobs: dict[int, Future[None]] = {}
        self._lock = threading.Lock()

    def submit(self, generation_id: int, work: Callable[[], None]) -> None:
        future = self._pool.submit(work)
        with self._lock:
            self._jobs[generation_id] = future
        future.add_done_callback(lambda _f: self._forget(generation_id))

    def _forget(self, generation_id: int) -> None:
        with self._lock:
            self._jobs.pop(generation_id, None)

    def is_running(self, generation_id: int) -> bool:
        with self._lock:
            return generation_id in self._jobs

    def wait(self, generation_id: int, timeout: float | None = None) -> bool:
        """Wait for a job of this process; True when it is finished (or unknown here)."""
        with self._lock:
            future = self._jobs.get(generation_id)
        if future is None:
            return True
        try:
            future.result(timeout=timeout)
        except FutureTimeout:
            return False
        return True

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait)
