"""Waiting for a condition with a deadline, instead of sleeping a fixed time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def eventually(condition: Callable[[], bool], timeout: float = 20.0, interval: float = 0.05) -> bool:
    """True as soon as `condition()` holds; False if it still does not after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        pause.wait(interval)
