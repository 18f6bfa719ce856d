"""Wakes whoever waits for a generation in this process the moment a worker here finishes it."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

# Ids finished lately are remembered, so a waiter that arrives just after the end is not left waiting.
REMEMBERED = 10_000


class Completions:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[int, threading.Event] = {}
        self._callbacks: dict[int, list[Callable[[], None]]] = {}
        self._finished: OrderedDict[int, None] = OrderedDict()

    def event(self, generation_id: int) -> threading.Event:
        """An event set when this generation reaches an end here (already set if it just did). Wait on it with a
        timeout: another process may finish it instead, so callers also look at the row."""
        with self._lock:
            event = self._events.setdefault(generation_id, threading.Event())
            if generation_id in self._finished:
                event.set()
            return event

    def on_done(self, generation_id: int, callback: Callable[[], None]) -> None:
        """Call `callback` (from the worker's thread) when it ends here; for asyncio waiters."""
        with self._lock:
            if generation_id not in self._finished:
                self._callbacks.setdefault(generation_id, []).append(callback)
                return
        callback()

    def forget(self, generation_id: int, callback: Callable[[], None] | None = None) -> None:
        with self._lock:
            if callback is None:
                self._events.pop(generation_id, None)
            elif callback in self._callbacks.get(generation_id, []):
                self._callbacks[generation_id].remove(callback)

    def done(self, generation_id: int) -> None:
        with self._lock:
            event = self._events.pop(generation_id, None)
            callbacks = self._callbacks.pop(generation_id, [])
            self._finished[generation_id] = None
            self._finished.move_to_end(generation_id)
            while len(self._finished) > REMEMBERED:
                self._finished.popitem(last=False)
        if event is not None:
            event.set()
        for callback in callbacks:
            callback()

    def again(self, generation_id: int) -> None:
        """It runs once more (a retried upload): forget that it ended."""
        with self._lock:
            self._finished.pop(generation_id, None)
