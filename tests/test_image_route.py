"""The /images route: only a viewer allowed to see an image gets its bytes, also when answered from memory."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import update
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from akari import runtime
from akari.db.models import Generation
from akari.gallery import Gallery, GalleryQuery
from akari.shown import RecentlyShown
from akari.stores import ImageMeta
from akari.studio import Studio
from akari.web import images
from akari.web.images import image_routes
from akari.web.signin import COOKIE_NAME
from tests.gallery_data import Viewer, add_generation, picture


@pytest.fixture
def studio(monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    monkeypatch.setenv("AKARI_WORKERS", "0")
    monkeypatch.setenv("AKARI_BCRYPT_ROUNDS", "4")
    runtime.close_studio()
    yield runtime.open_studio(workers=False)
    runtime.close_studio()


def _cookie_viewer(request: Request) -> Viewer | None:
    """The server's own rule (ui.signin): the sign-in cookie names a live session."""
    found = runtime.open_studio().signins.find(request.cookies.get(COOKIE_NAME))
    return found[1] if found else None


@pytest.fixture
def route(studio: Studio) -> Route:
    return image_routes(_cookie_viewer)[0]


def add_user(studio: Studio, username: str) -> Viewer:
    """A member who can sign in (a password is set)."""
    studio.accounts.create_user(username, "correct horse battery")
    return Viewer(studio.accounts.get(username).id)


def _image_of(studio: Studio, owner: Viewer, **columns: object) -> tuple[int, str]:
    """A generation with a real local image under the key the route expects (`g<id>-<token>.jpeg`)."""
    generation_id = add_generation(studio, owner, **columns)
    image = studio.stores.get("local").save(picture(), name=f"g{generation_id}-{secrets.token_hex(4)}", fmt="jpeg",
                                            private=True, meta=ImageMeta(generation_id, "x", "a lighthouse"))
    with studio.sessions.begin() as session:
        session.execute(update(Generation).where(Generation.id == generation_id).values(image_key=image.key))
    return generation_id, image.key


def _cookie(studio: Studio, viewer: Viewer) -> str:
    started = studio.signins.start(viewer.id)
    token = studio.signins.redeem(started.ticket)
    assert token is not None
    return f"{COOKIE_NAME}={token}"


def _get(route: Route, key: str, cookie: str, size: str = "thumb") -> Response:
    """The route's endpoint called with a real Starlette request, as the server would."""
    scope = {"type": "http", "method": "GET", "path": f"/images/{key}", "path_params": {"key": key},
             "query_string": f"size={size}".encode(), "headers": [(b"cookie", cookie.encode())]}
    # A thread of its own: another test in this process (the browser suite) may have an event loop running here.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, route.endpoint(Request(scope))).result()


def test_the_owner_gets_the_thumbnail_and_the_original_and_others_get_404(studio: Studio, route: Route) -> None:
    ada, bob = add_user(studio, "ada"), add_user(studio, "bob")
    _id, key = _image_of(studio, ada)
    thumb = _get(route, key, _cookie(studio, ada))
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/webp"
    assert thumb.body[:4] == b"RIFF" and "immutable" in thumb.headers["cache-control"]
    assert _get(route, key, _cookie(studio, ada), size="full").status_code == 200
    assert _get(route, key, _cookie(studio, bob)).status_code == 404
    assert _get(route, key, "").status_code == 404


def test_an_image_listed_to_one_viewer_is_not_served_to_another_from_memory(studio: Studio, route: Route) -> None:
    ada, bob = add_user(studio, "ada"), add_user(studio, "bob")
    _id, key = _image_of(studio, ada)
    Gallery(studio).page(ada, GalleryQuery(scope="mine"))  # listed to ada: remembered for her only
    assert studio.shown.store_of(ada.id, key) == "local"
    assert studio.shown.store_of(bob.id, key) is None
    assert _get(route, key, _cookie(studio, bob)).status_code == 404


def test_a_shared_image_reaches_other_members_and_unsharing_stops_it(studio: Studio, route: Route) -> None:
    ada, bob = add_user(studio, "ada"), add_user(studio, "bob")
    generation_id, key = _image_of(studio, ada, is_public=True)
    bobs = _cookie(studio, bob)
    assert _get(route, key, bobs).status_code == 200
    Gallery(studio).set_shared(ada, generation_id, False)
    assert _get(route, key, bobs).status_code == 404, "not listed to bob: the database is asked, and says no"


def test_an_ended_session_loads_nothing_once_its_moment_of_memory_has_passed(studio: Studio, route: Route,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ada = add_user(studio, "ada")
    _id, key = _image_of(studio, ada)
    Gallery(studio).page(ada, GalleryQuery(scope="mine"))
    cookie = _cookie(studio, ada)
    assert _get(route, key, cookie).status_code == 200
    studio.signins.end_all(ada.id)
    clock = time.monotonic() + images.VIEWER_MEMORY_S + 0.1
    monkeypatch.setattr(time, "monotonic", lambda: clock)
    assert _get(route, key, cookie).status_code == 404


def test_a_key_outside_the_image_folder_or_of_another_row_is_refused(studio: Studio, route: Route) -> None:
    ada = add_user(studio, "ada")
    generation_id, key = _image_of(studio, ada)
    cookie = _cookie(studio, ada)
    for hostile in ("../akari.db", "demo/../../akari.db", "demo/a\x00b.jpg", f"demo/{'x' * 5000}.jpg"):
        assert _get(route, hostile, cookie).status_code == 404, hostile
    other = key.replace(f"g{generation_id}-", f"g{generation_id + 1}-")
    assert _get(route, other, cookie).status_code == 404
    assert _get(route, key.rsplit("-", 1)[0] + "-0000.jpeg", cookie).status_code == 404


def test_what_was_shown_is_forgotten_after_its_time_and_beyond_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    shown = RecentlyShown(seconds=60, limit=2)
    shown.remember(1, [("local", "a"), ("local", "b"), ("demo", "c")])
    assert [shown.store_of(1, key) for key in "abc"] == [None, "local", "demo"]
    assert shown.store_of(2, "b") is None
    later = time.monotonic() + 61
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert shown.store_of(1, "b") is None
