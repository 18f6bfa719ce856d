"""The HTTP API: `POST /api/image-generation` (the original endpoint) and JSON routes over generations and usage.

Every rule (who may see, change or spend what) is the core's; a route reads the request, calls one core function in
a worker thread and writes the answer. Failures are `{"error": sentence, "reason": reason}` with the status the one
table in api_errors.py gives; nothing unexpected ever reaches the caller as more than a sentence.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from akari import runtime
from akari.api_access import OFF_MESSAGE, api_enabled
from akari.db.transactions import translated
from akari.errors import AkariError, InvalidInput
from akari.gallery import MAX_PAGE_SIZE, PAGE_SIZE, Gallery, GalleryQuery
from akari.generation import PENDING_UPLOAD_MESSAGE
from akari.model_choice import ModelChoice
from akari.prompts import GenerationRequest
from akari.studio import Studio
from akari.tokens import ApiCaller
from akari.usage import DEFAULT_DAYS, MAX_DAYS, Usage, UsageFilter
from akari.web.api_auth import ViewerOf, api_caller
from akari.web.api_errors import error_response, failure, internal_error
from akari.web.api_json import absolute, generation_json, usage_json

log = logging.getLogger("akari.api")

MAX_BODY_BYTES = 64 * 1024
# Requests waiting for their image hold a thread each: their own pool, so they never starve the other routes.
MAX_WAITING = 200
_waiters: anyio.CapacityLimiter | None = None
# Beyond the generation deadline: time for the queue to reach the row and for the upload.
WAIT_MARGIN_S = 30.0
BODY_HINT = ('Send a JSON object such as {"prompt": "a purple nebula"} (optional: "model", "steps", "seed", '
             '"public", "aspect" or "width" and "height", "guidance", "negative_prompt", "reference_id").')
Handler = Callable[[Request, ApiCaller, Studio], Awaitable[Response]]

ROUTES: list[dict[str, str]] = [
    {"method": "POST", "path": "/api/image-generation",
     "does": 'Make an image: {"prompt", "model"?, "steps"?, "seed"?, "public"?, "aspect"? or "width"? and "height"?, '
     '"guidance"?, "negative_prompt"?, "reference_id"?}; waits for it; ?wait=false answers 202 at once.'},
    {"method": "GET", "path": "/api/generations/{id}", "does": "One generation: status, URLs and metadata."},
    {"method": "GET", "path": "/api/generations", "does": "Finished images, newest first: ?mine=1 for yours (else "
     "the shared ones), ?q= words to search, ?cursor= from next_cursor, ?limit= up to 100."},
    {"method": "DELETE", "path": "/api/generations/{id}", "does": "Delete a finished image, or cancel a queued one."},
    {"method": "GET", "path": "/api/usage", "does": "Your usage figures (administrators: everyone's, or ?user=NAME); "
     "?days= (default 30), ?source=ui|api|cli, ?by=model for the split by model."},
    {"method": "GET", "path": "/api", "does": "This list."},
]


def _waiting_threads() -> anyio.CapacityLimiter:
    global _waiters
    if _waiters is None:  # made inside the server's event loop
        _waiters = anyio.CapacityLimiter(MAX_WAITING)
    return _waiters


def _admitted(request: Request, viewer_of: ViewerOf) -> tuple[Studio, ApiCaller]:
    """The studio and the caller, if the API is on and the caller is who they say (one trip to a thread)."""
    studio = runtime.open_studio()
    if not api_enabled(studio.sessions):
        raise AkariError(OFF_MESSAGE, reason="api_off")
    return studio, api_caller(request, viewer_of)


def _guarded(handler: Handler, viewer_of: ViewerOf) -> Callable[[Request], Awaitable[Response]]:
    """The switch, the caller and the one way errors are answered, around a route."""
    async def endpoint(request: Request) -> Response:
        try:
            studio, caller = await run_in_threadpool(_admitted, request, viewer_of)
            return await handler(request, caller, studio)
        except AkariError as exc:
            return error_response(exc)
        except SQLAlchemyError as exc:
            return error_response(translated(exc))
        except Exception:
            log.exception("API %s %s failed", request.method, request.url.path)
            return internal_error()

    return endpoint


# -- reading the request --------------------------------------------------------------------------------------------
async def _json_body(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise InvalidInput(f"The request body is over {MAX_BODY_BYTES // 1024} KB.", reason="too_large")
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise InvalidInput(f"The request body is over {MAX_BODY_BYTES // 1024} KB.", reason="too_large")
    try:
        parsed = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("The request body is not valid JSON. " + BODY_HINT, reason="invalid_json") from None
    if not isinstance(parsed, dict):
        raise InvalidInput(BODY_HINT, reason="invalid_json")
    return parsed


def _generation_request(body: dict[str, Any]) -> GenerationRequest:
    public = body.get("public", False)
    if not isinstance(public, bool):
        raise InvalidInput(f'"public" must be true or false (you gave {public!r}).')
    # Types and ranges are the core's to check (prompts.validate, against the model), in the same words as the
    # form's and the CLI's; the model and its defaults (steps, size) are the core's to resolve.
    return GenerationRequest(prompt=body.get("prompt"), steps=body.get("steps"), seed=body.get("seed"),
                             is_public=public, source="api", model=body.get("model"), width=body.get("width"),
                             height=body.get("height"), aspect=body.get("aspect"), guidance=body.get("guidance"),
                             negative_prompt=body.get("negative_prompt"), reference_from=body.get("reference_id"))


def _flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise InvalidInput(f"?{name}= takes true or false (you gave {raw!r}).")


def _whole(request: Request, name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidInput(f"?{name}= takes a whole number from {low} to {high:,} (you gave {raw!r}).")
    return int(raw)


# -- the routes -----------------------------------------------------------------------------------------------------
async def create_image(request: Request, caller: ApiCaller, studio: Studio) -> Response:
    generation = _generation_request(await _json_body(request))
    wait = _flag(request, "wait", True)
    service = studio.generations
    generation_id = await run_in_threadpool(service.submit, caller.id, generation)
    location = absolute(request, f"/api/generations/{generation_id}")
    if not wait:
        return JSONResponse({"id": generation_id, "status": "queued", "reason": "pending", "url": location},
                            status_code=202, headers={"Location": str(location)})
    record = await anyio.to_thread.run_sync(service.wait, generation_id, service.deadline_s + WAIT_MARGIN_S,
                                            limiter=_waiting_threads())
    if record.status == "succeeded":
        return JSONResponse(generation_json(request, studio.images, record))
    if record.status == "pending_upload":
        return failure(PENDING_UPLOAD_MESSAGE, "pending_upload", id=record.id, status="pending_upload", url=location)
    if not record.is_done:
        return JSONResponse({"id": record.id, "status": record.status, "reason": "pending", "url": location},
                            status_code=202, headers={"Location": str(location)})
    return failure(record.error_message or "The image could not be made.", record.error_reason or "internal",
                   id=record.id, status=record.status)


async def get_generation(request: Request, caller: ApiCaller, studio: Studio) -> Response:
    record = await run_in_threadpool(Gallery(studio).detail, caller, request.path_params["generation_id"])
    return JSONResponse(generation_json(request, studio.images, record))


async def list_generations(request: Request, caller: ApiCaller, studio: Studio) -> Response:
    query = GalleryQuery(scope="mine" if _flag(request, "mine", False) else "community",
                         search=request.query_params.get("q", ""),
                         after=_whole(request, "cursor", None, 1, 2**63 - 1),
                         limit=_whole(request, "limit", PAGE_SIZE, 1, MAX_PAGE_SIZE) or PAGE_SIZE)
    page = await run_in_threadpool(Gallery(studio).page, caller, query)
    following = None
    if page.next_after is not None:
        following = request.url.include_query_params(cursor=page.next_after)
    return JSONResponse({"items": [generation_json(request, studio.images, r) for r in page.items],
                         "next_cursor": page.next_after, "next": None if following is None else str(following)})


def _delete(studio: Studio, caller: ApiCaller, generation_id: int) -> str:
    gallery = Gallery(studio)
    record = gallery.detail(caller, generation_id)  # NotFound unless the caller may see it
    if record.status == "queued" and record.user_id == caller.id:
        studio.generations.cancel(caller.id, generation_id)
        return "cancelled"
    gallery.delete(caller, generation_id)  # owner or administrator, finished images only
    return "deleted"


async def delete_generation(request: Request, caller: ApiCaller, studio: Studio) -> Response:
    generation_id = request.path_params["generation_id"]
    outcome = await run_in_threadpool(_delete, studio, caller, generation_id)
    return JSONResponse({"id": generation_id, "status": outcome})


def _usage(studio: Studio, caller: ApiCaller, days: int, username: str | None,
           source: str | None, split: str | None) -> dict[str, Any]:
    usage = Usage(studio)
    if username is None:
        with studio.sessions() as session:  # administrators see everyone's by default, members their own
            try:
                usage.check(session, caller, None)
                user_id = None
            except AkariError:
                user_id = caller.id
    else:
        user_id = studio.user_id(username)
        if user_id is None:
            raise InvalidInput(f"No account is named {username!r}.")
    if split not in (None, "model"):
        raise InvalidInput(f"?by= takes model (you gave {split!r}).")
    usage_filter = UsageFilter.last_days(days, user_id, source=source)
    report = usage.report(caller, usage_filter)
    by_model = usage.by_model(caller, usage_filter) if split == "model" else None
    name = None
    if user_id is not None:
        name = username or getattr(caller.user, "username", None)
    return usage_json(report, name, by_model)


async def get_usage(request: Request, caller: ApiCaller, studio: Studio) -> Response:
    days = _whole(request, "days", DEFAULT_DAYS, 1, MAX_DAYS) or DEFAULT_DAYS
    username = request.query_params.get("user") or None
    source = request.query_params.get("source") or None
    split = request.query_params.get("by") or None
    return JSONResponse(await run_in_threadpool(_usage, studio, caller, days, username, source, split))


async def describe(request: Request) -> Response:
    try:
        studio = await run_in_threadpool(runtime.open_studio)
        enabled = await run_in_threadpool(api_enabled, studio.sessions)
        models, default = await run_in_threadpool(ModelChoice(studio.sessions).get)
    except AkariError as exc:
        return error_response(exc)
    except Exception:
        log.exception("GET /api failed")
        return internal_error()
    return JSONResponse({
        "enabled": enabled,
        "model": default.id,  # what a request without "model" gets
        "models": [{"id": m.id, "label": m.label, "default": m.id == default.id} for m in models],
        "authentication": "Authorization: Bearer <token> (make one on the Account page, or: python -m akari tokens "
                          "create USER), or the sign-in cookie from the studio's own pages (JSON bodies only).",
        "routes": ROUTES,
    })


def api_routes(viewer_of: ViewerOf) -> list[Route]:
    return [
        Route("/api", describe, methods=["GET"]),
        Route("/api/image-generation", _guarded(create_image, viewer_of), methods=["POST"]),
        Route("/api/generations", _guarded(list_generations, viewer_of), methods=["GET"]),
        Route("/api/generations/{generation_id:int}", _guarded(get_generation, viewer_of), methods=["GET"]),
        Route("/api/generations/{generation_id:int}", _guarded(delete_generation, viewer_of), methods=["DELETE"]),
        Route("/api/usage", _guarded(get_usage, viewer_of), methods=["GET"]),
    ]
