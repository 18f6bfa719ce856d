"""GET /images/{key}: a local image or its thumbnail, to a viewer allowed to see it, cached by the browser."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from akari import runtime
from akari.errors import AkariError
from akari.gallery import Gallery, Viewer
from akari.imaging import MIME_TYPES
from akari.stores.local import IMAGE_ROUTE, LocalStore
from akari.studio import Studio

_GENERATION = re.compile(r"(?:^|/)g(\d{1,18})-[a-z0-9]+\.[a-z]+$")
# The key carries a random token and never names other bytes: the browser may keep it for good.
CACHE_FOREVER = "private, max-age=31536000, immutable"
_MISSING = PlainTextResponse("Not found", status_code=404)
# A gallery page asks for two dozen thumbnails at once, each with the same cookie: one sign-in lookup serves them
# all. A session ended elsewhere can load images for at most this long (its pages stop at once).
VIEWER_MEMORY_S = 2.0
_REMEMBERED = 1024


class _Unknown:
    """Not in memory: only a worker thread may find out (it asks the database)."""


UNKNOWN = _Unknown()


class RecentViewers:
    """Who sent a cookie, remembered for a moment. Requests with a personal token are never remembered: every one
    of those is counted by the token's rate limit."""

    def __init__(self, viewer_of: Callable[[Request], Viewer | None], seconds: float = VIEWER_MEMORY_S) -> None:
        self.viewer_of = viewer_of
        self.seconds = seconds
        self._seen: dict[str, tuple[float, Viewer | None]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _cookie(request: Request) -> str | None:
        """What a viewer is remembered by; None for a request that must always be looked up."""
        return None if "authorization" in request.headers else request.headers.get("cookie")

    def remembered(self, request: Request) -> Viewer | _Unknown | None:
        """The viewer if remembered (None: remembered as nobody), else UNKNOWN; never asks the database."""
        cookie = self._cookie(request)
        if cookie is None:
            return UNKNOWN
        with self._lock:
            seen = self._seen.get(cookie)
        return seen[1] if seen is not None and time.monotonic() - seen[0] < self.seconds else UNKNOWN

    def __call__(self, request: Request) -> Viewer | None:
        known = self.remembered(request)
        if not isinstance(known, _Unknown):
            return known
        viewer = self.viewer_of(request)
        cookie = self._cookie(request)
        if cookie is not None:
            now = time.monotonic()
            with self._lock:
                if len(self._seen) >= _REMEMBERED:
                    self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.seconds}
                if len(self._seen) < _REMEMBERED:  # a flood of made-up cookies is not kept
                    self._seen[cookie] = (now, viewer)
        return viewer


def _store_of(studio: Studio, viewer: Viewer, key: str, *, may_ask: bool) -> str | _Unknown | None:
    """The store holding the image with this key if the viewer may see it, else None."""
    if key.startswith("demo/"):
        return "demo"  # shared stand-in pictures of demo rows, for any signed-in viewer
    shown = studio.shown.store_of(viewer.id, key)  # listed to this viewer by a gallery page a moment ago
    if shown is not None:
        return shown
    if not may_ask:
        return UNKNOWN
    match = _GENERATION.search(key)
    if match is None:
        return None
    kept_in, kept_as = Gallery(studio).image_of(viewer, int(match.group(1)))  # NotFound unless they may see it
    return kept_in if kept_as == key else None


def _answer(viewers: RecentViewers, request: Request, *, may_ask: bool) -> Response | _Unknown:
    """The answer to an image request. With `may_ask` (in a worker thread) whatever it takes; without (on the event
    loop) only what memory knows, else UNKNOWN: a gallery's thumbnails then cost no database trip and no thread."""
    viewer = viewers(request) if may_ask else viewers.remembered(request)
    if isinstance(viewer, _Unknown):
        return viewer
    if viewer is None:
        return _MISSING  # the same answer as for an image that does not exist: nothing to learn here
    key, size = request.path_params["key"], request.query_params.get("size", "full")
    if not may_ask and size != "thumb":
        return UNKNOWN  # an original is streamed from a thread
    try:
        studio = runtime.open_studio() if may_ask else runtime.opened()
        if studio is None:
            return UNKNOWN
        kept_in = _store_of(studio, viewer, key, may_ask=may_ask)
        if isinstance(kept_in, _Unknown):
            return kept_in
        store = studio.stores.get(kept_in) if kept_in in ("local", "demo") else None
        if not isinstance(store, LocalStore):
            return _MISSING
        path = store.path(key, "thumb" if size == "thumb" else "full")
    except (AkariError, OSError, ValueError):  # ValueError: a key with a NUL byte, which no file has
        return _MISSING
    if size != "thumb":
        if not path.is_file():
            return _MISSING
        media = MIME_TYPES.get(path.suffix.lstrip(".").replace("jpg", "jpeg"), "application/octet-stream")
        return FileResponse(path, media_type=media, headers={"Cache-Control": CACHE_FOREVER})
    try:  # a thumbnail is a few kilobytes from the page cache: read at once, not streamed in chunks
        with open(path, "rb") as file:
            data = file.read()
    except OSError:
        return _MISSING
    return Response(data, media_type="image/webp", headers={"Cache-Control": CACHE_FOREVER})


def image_routes(viewer_of: Callable[[Request], Viewer | None]) -> list[Route]:
    viewers = RecentViewers(viewer_of)

    async def image(request: Request) -> Response:
        answer = _answer(viewers, request, may_ask=False)
        if isinstance(answer, _Unknown):
            answer = await run_in_threadpool(_answer, viewers, request, may_ask=True)
        assert isinstance(answer, Response)
        return answer

    return [Route(IMAGE_ROUTE + "{key:path}", image, methods=["GET"])]
