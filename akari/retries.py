"""Retries made inside a provider call, told to whoever runs the generation (the row then says "busy, retrying 2/4")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from akari.errors import AkariError

# A context variable, not a parameter: a generator announces retries without every generator's signature changing.
Listener = Callable[[int, int, AkariError], None]
_listener: ContextVar[Listener | None] = ContextVar("akari_retry_listener", default=None)

# What the person reads while the next attempt waits, by the error's reason.
WORDS = {"capacity": "busy", "timeout": "slow to answer", "network": "unreachable",
         "provider_error": "failing", "bad_response": "answering oddly"}


def announce(attempt: int, attempts: int, error: AkariError) -> None:
    """Attempt `attempt` of at most `attempts` is about to start because of `error`. Never raises."""
    listener = _listener.get()
    if listener is not None:
        listener(attempt, attempts, error)


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)


def retry_note(attempt: int, attempts: int, error: AkariError) -> str:
    """The running row's note, in the person's words: "The image service is busy, retrying 2/4"."""
    return f"The image service is {WORDS.get(error.reason, 'failing')}, retrying {attempt}/{attempts}"
