"""The log: one line per event with time, level, logger and the generation's context; secrets never written."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from akari import logs


@pytest.fixture
def captured(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    yield capsys  # conftest puts Akari's log back as it was


def test_a_line_has_time_level_logger_and_the_generation_context(captured: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO")
    with logs.context(generation_id=12, user_id=3):
        logging.getLogger("akari.generation").warning("generation failed: busy", extra={"reason": "capacity"})
    line = captured.readouterr().err.strip()
    assert line.endswith("WARNING akari.generation: generation failed: busy [generation=12 user=3 reason=capacity]")
    stamp = line.split()[0]
    assert stamp[:4].isdigit() and "T" in stamp and stamp.endswith("Z")


def test_info_lines_are_kept_and_the_level_is_a_setting(captured: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO")
    logging.getLogger("akari.queue").info("instance started")
    assert "INFO akari.queue: instance started" in captured.readouterr().err
    logs.configure("WARNING")
    logging.getLogger("akari.queue").info("instance started")
    assert captured.readouterr().err == ""


def test_json_output_is_one_object_a_line(captured: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", "json")
    with logs.context(generation_id=7, request_id="8f00ab"):
        logging.getLogger("akari.generation").info("stored on local")
    entry = json.loads(captured.readouterr().err.strip())
    assert entry["level"] == "INFO" and entry["logger"] == "akari.generation"
    assert entry["generation_id"] == 7 and entry["request_id"] == "8f00ab" and "user_id" not in entry


def test_secrets_are_never_written_even_in_a_traceback(captured: pytest.CaptureFixture[str]) -> None:
    logs.configure("INFO", secrets=["tok-secret-123456"])
    log = logging.getLogger("akari.generators")
    log.warning("calling with key %s", "tok-secret-123456")
    try:
        raise RuntimeError("Authorization: Bearer tok-secret-123456")
    except RuntimeError:
        log.exception("request failed")
    err = captured.readouterr().err
    assert "tok-secret-123456" not in err and "key ***" in err and "Bearer ***" in err
