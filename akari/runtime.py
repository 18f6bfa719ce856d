"""The one studio an app process serves: opened with the server (workers and recovery start then), kept once.

A start-up failure (a bad setting, an unreachable database) is kept as a sentence for the pages and the API, and
opening is tried again on the next request a few seconds later, so a database that comes up late is picked up.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from akari.db.transactions import translated
from akari.errors import AkariError
from akari.studio import Studio

log = logging.getLogger("akari.runtime")

RETRY_AFTER_S = 5.0

_lock = threading.Lock()
_studio: Studio | None = None
_failure: AkariError | None = None
_failed_at = 0.0


def open_studio(*, workers: bool = True) -> Studio:
    """The process's studio, opened (with its workers) if it is not yet. Raises the start-up failure, as an
    AkariError whose message names what to fix."""
    global _studio, _failure, _failed_at
    with _lock:
        if _studio is not None:
            return _studio
        if _failure is not None and time.monotonic() - _failed_at < RETRY_AFTER_S:
            raise _failure
        try:
            studio = Studio.open()
            if workers:
                studio.start_workers()
        except AkariError as exc:
            _failure, _failed_at = exc, time.monotonic()
            log.error("Akari cannot start: %s", exc.log_line())
            raise
        except SQLAlchemyError as exc:
            _failure, _failed_at = translated(exc), time.monotonic()
            log.error("Akari cannot start: %s", _failure.log_line())
            raise _failure from exc
        _studio, _failure = studio, None
        return studio


def opened() -> Studio | None:
    """The studio if it is open, without waiting to open it (for the event loop, which must never block)."""
    return _studio


def close_studio() -> None:
    """Stop the workers (finishing what they hold) and let go of the database."""
    global _studio, _failure
    with _lock:
        studio, _studio, _failure = _studio, None, None
    if studio is not None:
        studio.close()
