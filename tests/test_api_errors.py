"""The API's answers to failures: the one status table, Retry-After, and never a traceback, in process."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import anyio
import pytest
from sqlalchemy.exc import OperationalError
from starlette.requests import Request
from starlette.responses import Response

from akari import runtime
from akari.config import load_settings
from akari.errors import AkariError, NotFound, RateLimited
from akari.prompts import GenerationRequest
from akari.studio import Studio
from akari.tokens import ApiCaller
from akari.web.api import _delete, _guarded
from akari.web.api_errors import STATUS_BY_REASON, status_of
from akari.web.api_json import absolute
from tests.gallery_data import add_user


@pytest.fixture(autouse=True)
def _studio(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AKARI_WORKERS", "0")
    runtime.close_studio()
    yield
    runtime.close_studio()


def _call(handler, headers: dict[str, str] | None = None, path: str = "/api/test") -> tuple[int, dict, Response]:
    async def raising(_request, _caller, _studio):  # type: ignore[no-untyped-def]
        raise handler

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
             "client": ("10.1.2.3", 5000), "server": ("studio.example", 443), "scheme": "https"}
    endpoint = _guarded(raising, lambda _request: type("Someone", (), {"id": 1})())

    async def run() -> Response:
        return await endpoint(Request(scope, receive))

    response = anyio.run(run)
    return response.status_code, json.loads(response.body), response


def test_an_unexpected_error_is_a_500_sentence_and_the_detail_goes_to_the_log(caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="akari.api"):
        status, body, _ = _call(RuntimeError("secret internals at 0xdeadbeef"),
                                {"Sec-Fetch-Site": "same-origin"})
    assert (status, body["reason"]) == (500, "internal")
    assert "secret" not in body["error"] and "Traceback" not in body["error"]
    assert "secret internals" in caplog.text


def test_a_database_failure_is_a_503_sentence() -> None:
    status, body, _ = _call(OperationalError("SELECT 1", {}, Exception("connection refused to db-host:5432")))
    assert (status, body["reason"]) == (503, "database")
    assert "db-host" not in body["error"]


def test_a_rate_limit_says_when_to_come_back() -> None:
    status, body, response = _call(RateLimited("Slow down.", retry_after=17))
    assert (status, body) == (429, {"error": "Slow down.", "reason": "rate_limited"})
    assert response.headers["Retry-After"] == "17"


def test_an_unknown_reason_is_a_500_and_every_status_in_the_table_is_an_error_or_202() -> None:
    assert _call(AkariError("Odd.", reason="something_new"))[0] == 500
    assert status_of(None) == 500
    assert {s for s in STATUS_BY_REASON.values() if not 400 <= s < 600} == {202}


def test_app_paths_become_absolute_urls_on_the_host_the_caller_used() -> None:
    scope = {"type": "http", "method": "GET", "path": "/api", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"studio.example")], "server": ("studio.example", 443), "scheme": "https"}
    request = Request(scope)
    assert absolute(request, "/images/ab/g1-x.jpg") == "https://studio.example/images/ab/g1-x.jpg"
    assert absolute(request, "https://res.cloudinary.com/x.jpg") == "https://res.cloudinary.com/x.jpg"
    assert absolute(request, None) is None


def test_delete_cancels_ones_own_queued_generation_and_not_anothers(tmp_path) -> None:
    studio = Studio.open(load_settings(akari_data_dir=str(tmp_path / "d")))  # no workers: rows stay queued
    try:
        ada, bob = add_user(studio, "ada"), add_user(studio, "bob")
        queued = studio.generations.submit(ada.id, GenerationRequest("a queued kite", source="api"))
        with pytest.raises(NotFound):
            _delete(studio, ApiCaller(bob, None), queued)
        assert _delete(studio, ApiCaller(ada, None), queued) == "cancelled"
        assert studio.generations.get(queued).status == "cancelled"
    finally:
        studio.close()
