"""Who is calling the API: a personal token (`Authorization: Bearer`), or the sign-in cookie on same-origin requests."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlparse

from starlette.requests import Request

from akari import runtime
from akari.errors import AkariError, PermissionDenied, Unauthenticated
from akari.gallery import Viewer
from akari.tokens import ApiCaller

ViewerOf = Callable[[Request], Viewer | None]
SIGN_IN_MESSAGE = "Sign in, or send a personal API token: Authorization: Bearer <token> (make one on the Account page)."
BEARER_MESSAGE = "Send the token as: Authorization: Bearer <token>."
CROSS_ORIGIN_MESSAGE = "The sign-in cookie is only accepted from the studio's own pages. Other sites and scripts " \
                       "must send a personal API token."
JSON_MESSAGE = "Send the request body as JSON, with the header Content-Type: application/json."
# Methods that change something: the cookie rides along with them only from our own pages.
_CHANGING = ("POST", "PUT", "PATCH", "DELETE")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def bearer_token(request: Request) -> str | None:
    """The token of an Authorization header, None without one; a header of another form is refused."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(BEARER_MESSAGE)
    return token.strip()


def _same_origin(request: Request) -> bool:
    """Whether the browser says this request comes from our own pages. Browsers send `Sec-Fetch-Site` and, on
    changing requests, `Origin`; neither can be set by a page's script."""
    site = request.headers.get("sec-fetch-site")
    # "none": the user opened the address themselves (a bookmark, the address bar), which only reads.
    if site is not None and site != "same-origin" and not (site == "none" and request.method not in _CHANGING):
        return False
    origin = request.headers.get("origin")
    if origin is not None:
        host = request.headers.get("host", "")
        return origin != "null" and urlparse(origin).netloc.lower() == host.lower()
    # No Origin on a changing request: not what a browser running our own page sends.
    return request.method not in _CHANGING or site == "same-origin"


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"


def api_caller(request: Request, viewer_of: ViewerOf) -> ApiCaller:
    """The caller, or Unauthenticated / PermissionDenied / RateLimited. Blocking: run it in a thread."""
    studio = runtime.open_studio()
    token = bearer_token(request)
    if token is not None:
        return studio.tokens.authenticate(token, client_address(request))
    viewer = viewer_of(request)
    if viewer is None:
        raise Unauthenticated(SIGN_IN_MESSAGE)
    if not _same_origin(request):
        raise PermissionDenied(CROSS_ORIGIN_MESSAGE, reason="cross_origin")
    if request.method in _CHANGING and request.method != "DELETE" and not _is_json(request):
        # A cross-site form can post text/plain without asking; only a script of our own origin can send JSON.
        raise PermissionDenied(JSON_MESSAGE, reason="unsupported_media_type")
    return ApiCaller(viewer, None)


def with_tokens(viewer_of: ViewerOf) -> ViewerOf:
    """A viewer callable that also takes a personal token, so an API caller can open the `photo` URLs it gets."""
    def viewer(request: Request) -> Viewer | None:
        try:
            token = bearer_token(request)
            if token is None:
                return viewer_of(request)
            return runtime.open_studio().tokens.authenticate(token, client_address(request))
        except AkariError:
            return None

    return viewer
