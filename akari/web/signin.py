"""POST /auth/session and /auth/signout: the sign-in cookie, set and cleared by the server so that it is HttpOnly.

The sign-in library's cookie is written by JavaScript, so page scripts could read it; a cookie from an HTTP response
can be HttpOnly. After a sign-in the page posts a one-time ticket here and gets the cookie in return.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from akari import runtime
from akari.errors import AkariError
from akari.signins import SESSION_LIFETIME

COOKIE_NAME = "akari_signin"
SESSION_ROUTE = "/auth/session"
SIGNOUT_ROUTE = "/auth/signout"
MAX_FORM_BYTES = 1024


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


async def _field(request: Request, name: str) -> str:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return ""
    values = parse_qs(body.decode("utf-8", "replace")).get(name) or [""]
    return values[0]


def _same_origin(request: Request) -> bool:
    """The page posting here must be this app's own: a form on another site could otherwise plant its owner's
    ticket and sign a visitor in as someone else (login CSRF). Browsers send Origin with every POST."""
    origin = request.headers.get("origin")
    hosts = {request.headers.get("host"), request.headers.get("x-forwarded-host")} - {None}
    return origin is not None and urlsplit(origin).netloc in hosts


_FORBIDDEN = "Requests to this address must come from Akari's own pages."


def session_routes() -> list[Route]:
    async def issue(request: Request) -> Response:
        if not _same_origin(request):
            return _no_store(PlainTextResponse(_FORBIDDEN, status_code=403))
        ticket = await _field(request, "ticket")
        try:
            studio = await run_in_threadpool(runtime.open_studio)
            token = await run_in_threadpool(studio.signins.redeem, ticket)
        except AkariError:
            token = None
        if token is None:
            return _no_store(PlainTextResponse("This sign-in link is used up or expired.", status_code=403))
        response = _no_store(PlainTextResponse("Signed in."))
        response.set_cookie(COOKIE_NAME, token, max_age=int(SESSION_LIFETIME.total_seconds()), path="/",
                            httponly=True, samesite="strict", secure=studio.settings.behind_tls)
        return response

    async def signout(request: Request) -> Response:
        if not _same_origin(request):
            return _no_store(PlainTextResponse(_FORBIDDEN, status_code=403))
        # The session was ended by the page already; this ends whatever the cookie names too, then forgets it.
        token = request.cookies.get(COOKIE_NAME)
        secure = False
        try:
            studio = await run_in_threadpool(runtime.open_studio)
            secure = studio.settings.behind_tls
            await run_in_threadpool(studio.signins.end_token, token)
        except AkariError:
            pass
        response = _no_store(PlainTextResponse("Signed out."))
        response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict", secure=secure)
        return response

    return [Route(SESSION_ROUTE, issue, methods=["POST"]), Route(SIGNOUT_ROUTE, signout, methods=["POST"])]
