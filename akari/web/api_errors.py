"""The API's one table from the core's reasons to HTTP statuses, and the `{"error", "reason"}` answers it gives."""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse

from akari.errors import AkariError, RateLimited
from akari.quota import seconds_until_reset

log = logging.getLogger("akari.api")

# Every reason the core gives (error classes, failed generations' reasons, the API's own) and its status.
STATUS_BY_REASON: dict[str, int] = {
    # made, but not final yet: ask GET /api/generations/{id} later
    "pending_upload": 202, "pending": 202,
    # the request
    "invalid_input": 400, "invalid_json": 400, "prompt_too_large": 400,
    "unauthenticated": 401,
    "forbidden": 403, "account_disabled": 403, "cross_origin": 403,
    "not_found": 404,
    "cancelled": 409,
    "too_large": 413,
    "unsupported_media_type": 415,
    "safety_filter": 422,
    # quotas and limits (Retry-After below)
    "quota": 429, "neuron_quota": 429, "daily_allocation": 429, "rate_limited": 429, "too_many_failures": 429,
    # our side
    "internal": 500, "error": 500, "interrupted": 500, "spool_missing": 500, "spool_full": 500,
    # the providers (Workers AI, the image store)
    "auth": 502, "account_blocked": 502, "bad_request": 502, "bad_response": 502, "provider_error": 502,
    "network": 502, "generation_failed": 502, "store_failed": 502, "store_config": 502,
    "capacity": 503, "model_unavailable": 503, "database": 503, "database_full": 503, "database_read_only": 503,
    "config": 503, "api_off": 503,
    "timeout": 504,
}
# Reasons that end with the UTC day: come back after 00:00 UTC.
UNTIL_MIDNIGHT = ("quota", "neuron_quota", "daily_allocation")
INTERNAL_MESSAGE = "Something went wrong on our side. Please try again; if it keeps happening, tell your administrator."


def status_of(reason: str | None) -> int:
    return STATUS_BY_REASON.get(reason or "internal", 500)


def retry_after(reason: str, error: AkariError | None = None) -> int | None:
    if isinstance(error, RateLimited):
        return error.retry_after
    if reason in UNTIL_MIDNIGHT:
        return seconds_until_reset()
    if reason == "capacity":
        return 60
    return None


def failure(message: str, reason: str, *, error: AkariError | None = None,
            **extra: object) -> JSONResponse:
    """`{"error": sentence, "reason": reason, ...}` with the status the table gives."""
    headers = {}
    wait = retry_after(reason, error)
    if wait is not None:
        headers["Retry-After"] = str(wait)
    return JSONResponse({"error": message, "reason": reason, **extra}, status_code=status_of(reason),
                        headers=headers)


def error_response(error: AkariError) -> JSONResponse:
    if status_of(error.reason) >= 500 and error.reason != "api_off":
        log.warning("API request failed: %s", error.log_line())
    return failure(error.message, error.reason, error=error)


def internal_error() -> JSONResponse:
    return JSONResponse({"error": INTERNAL_MESSAGE, "reason": "internal"}, status_code=500)
