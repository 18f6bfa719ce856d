"""Logging, configured once: one line per event with time, level, logger and the generation's context, no secrets."""

from __future__ import annotations

import json
import logging
import logging.config
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

# What a line may carry besides its message: set with `context(...)` around a piece of work, or `extra={...}`.
CONTEXT_FIELDS = ("generation_id", "user_id", "reason", "request_id")
_SHORT_NAMES = {"generation_id": "generation", "user_id": "user", "reason": "reason", "request_id": "request"}
_context: ContextVar[dict[str, object]] = ContextVar("akari_log_context", default={})  # noqa: B039 (never mutated)


@contextmanager
def context(**values: object) -> Iterator[None]:
    """Every line logged inside (in this thread or task) carries these values, e.g. the generation id."""
    token = _context.set({**_context.get(), **{k: v for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Fills the context fields of a record from `context(...)` where the call did not pass them."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _context.get()
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, current.get(name))
        return True


class _Redacting(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    @staticmethod
    def timestamp(record: logging.LogRecord) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(_Redacting):
    """`2026-11-30T04:05:06.789Z WARNING akari.generation: message [generation=12 user=3 reason=busy]`"""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{_SHORT_NAMES[name]}={getattr(record, name)}" for name in CONTEXT_FIELDS
                          if getattr(record, name, None) is not None)
        line = f"{self.timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if fields:
            line += f" [{fields}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self.redact(line)


class JsonFormatter(_Redacting):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {"time": self.timestamp(record), "level": record.levelname,
                                    "logger": record.name, "message": record.getMessage()}
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is not None:
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(entry, default=str, ensure_ascii=False))


def configure(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Send Akari's loggers to standard error in the chosen format. Safe to call again (the last call wins)."""
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,  # Streamlit's and the libraries' loggers keep their own set-up
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"akari": {"()": formatter, "secrets": list(secrets)}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                                "formatter": "akari", "filters": ["context"]}},
        "loggers": {"akari": {"handlers": ["stderr"], "level": level, "propagate": False}},
    })
