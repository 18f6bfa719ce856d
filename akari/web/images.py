"""GET /images/{key}: a local image or its thumbnail, to a viewer allowed to see it, cached by the browser."""

from __future__ import annotations

import re
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

_GENERATION = re.compile(r"(?:^|/)g(\d{1,18})-[a-z0-9]+\.[a-z]+$")
# The key carries a random token and never names other bytes: the browser may keep it for good.
CACHE_FOREVER = "private, max-age=31536000, immutable"
_MISSING = PlainTextResponse("Not found", status_code=404)


def _file(viewer: Viewer, key: str, size: str) -> tuple[str, str] | None:
    """(path, media type) if the viewer may see the image with this key, else None."""
    studio = runtime.open_studio()
    if key.startswith("demo/"):
        store = studio.stores.get("demo")  # shared stand-in pictures of demo rows, for any signed-in viewer
    else:
        match = _GENERATION.search(key)
        if match is None:
            return None
        record = Gallery(studio).detail(viewer, int(match.group(1)))  # NotFound unless the viewer may see it
        if record.image_key != key or record.store not in ("local", "demo"):
            return None
        store = studio.stores.get(record.store)
    assert isinstance(store, LocalStore)
    path = store.path(key, "thumb" if size == "thumb" else "full")
    if not path.is_file():
        return None
    media = "image/webp" if size == "thumb" else MIME_TYPES.get(path.suffix.lstrip(".").replace("jpg", "jpeg"),
                                                                "application/octet-stream")
    return str(path), media


def image_routes(viewer_of: Callable[[Request], Viewer | None]) -> list[Route]:
    async def image(request: Request) -> Response:
        viewer = await run_in_threadpool(viewer_of, request)
        if viewer is None:
            return _MISSING  # the same answer as for an image that does not exist: nothing to learn here
        try:
            found = await run_in_threadpool(_file, viewer, request.path_params["key"],
                                            request.query_params.get("size", "full"))
        except AkariError:
            found = None
        if found is None:
            return _MISSING
        path, media = found
        return FileResponse(path, media_type=media, headers={"Cache-Control": CACHE_FOREVER})

    return [Route(IMAGE_ROUTE + "{key:path}", image, methods=["GET"])]
