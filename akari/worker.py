"""Workers: a dispatcher that claims rows while a worker is free, the workers that run them, and upkeep.

The same loop runs inside the app (started with the server), in `python -m akari worker` and, for its own
generation only, in `python -m akari generate`. Upkeep, every few seconds: take back the rows of stopped processes,
fold the usage deltas into the summaries, and remove spool files whose image is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from akari.generation import GenerationService
from akari.queue import Job, LiveInstance
from akari.summaries import fold_deltas

log = logging.getLogger("akari.worker")

IDLE_POLL_S = 1.0  # how often an idle dispatcher looks for work queued by other processes


class WorkerPool:
    def __init__(self, service: GenerationService, *, workers: int, kind: str, lease_seconds: float,
                 only: tuple[int, ...] | None = None) -> None:
        self.service = service
        self.workers = max(0, workers)
        self.lease_seconds = lease_seconds
        self.only = only  # claim only these rows (a command waiting for its own generation)
        self.instance = LiveInstance(service.sessions, kind=kind, workers=self.workers, lease_seconds=lease_seconds)
        self._executor = ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="akari-worker")
        self._active: set[int] = set()
        self._reserved = 0  # workers held for a submit in progress
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_upkeep = 0.0

    @property
    def id(self) -> str:
        return self.instance.id

    def start(self) -> WorkerPool:
        self.instance.register()
        if self.only is None:  # a pool that runs only its own rows takes nothing straight from a submit
            self.service.attach(self)
        self._thread = threading.Thread(target=self._dispatch_forever, name="akari-dispatcher", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def reserve(self, count: int) -> bool:
        with self._lock:
            if self._stop.is_set() or len(self._active) + self._reserved + count > self.workers:
                return False
            self._reserved += count
            return True

    def run_claimed(self, jobs: list[Job], *, reserved: int) -> None:
        with self._lock:
            self._reserved -= reserved
            self._active.update(job.id for job in jobs)
        for job in jobs:
            self._executor.submit(self._run, job)

    def active(self) -> set[int]:
        with self._lock:
            return set(self._active)

    def _dispatch_forever(self) -> None:
        while not self._stop.is_set():
            try:
                self._upkeep_when_due()
                if self._dispatch_one():
                    continue
            except Exception as exc:  # the database may be away; the loop must outlive it
                log.warning("dispatcher: %s: %s", type(exc).__name__, str(exc).splitlines()[0][:200])
                self._stop.wait(IDLE_POLL_S)
            self._wake.wait(IDLE_POLL_S)
            self._wake.clear()

    def _dispatch_one(self) -> bool:
        """Claim and hand over one row if a worker is free; True when it did."""
        if not self.workers:
            return False
        with self._lock:
            if len(self._active) + self._reserved >= self.workers:
                return False
        job = self.service.queue.claim(self.instance.id, self.only)
        if job is None:
            return False
        with self._lock:
            self._active.add(job.id)
        self._executor.submit(self._run, job)
        return True

    def _run(self, job: Job) -> None:
        try:
            self.service.run(job, self.instance.id)
        finally:
            with self._lock:
                self._active.discard(job.id)
            self._wake.set()  # a worker is free

    def _upkeep_when_due(self) -> None:
        now = time.monotonic()
        if now - self._last_upkeep < max(self.lease_seconds / 3, 0.05):
            return
        self._last_upkeep = now
        self.upkeep()

    def upkeep(self) -> None:
        service = self.service
        with self._lock:
            # While a submit hands rows over, they are ours before they are in `active`: leave ours alone then.
            active = None if self._reserved else set(self._active)
        if service.queue.recover(self.instance, active=active):
            self._wake.set()
        fold_deltas(service.sessions)
        service.sweep_spool()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming, let running work finish (up to `timeout`), hand back what is left, leave."""
        self._stop.set()
        if self.service.local is self:
            self.service.attach(None)
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        deadline = time.monotonic() + timeout
        while self.active() and time.monotonic() < deadline:
            time.sleep(0.05)
        self._executor.shutdown(wait=False, cancel_futures=True)
        try:
            # Whatever still runs here is abandoned: release it now rather than after the lease runs out.
            self.service.queue.recover(self.instance, active=set())
        except Exception as exc:
            log.warning("could not hand back unfinished work: %s", type(exc).__name__)
        self.instance.close()
