"""Akari's server: the pages (app.py), its HTTP routes and the generation workers, on one port.

Run with `streamlit run server.py` (scripts/run does). `streamlit run app.py` still serves the pages alone.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request

from akari import logs, runtime
from akari.config import load_settings
from akari.db.transactions import translated
from akari.errors import AkariError
from akari.gallery import Viewer
from akari.web.api import api_routes
from akari.web.api_auth import with_tokens
from akari.web.headers import SecurityHeaders
from akari.web.images import image_routes
from akari.web.nodelay import send_small_answers_at_once
from akari.web.signin import session_routes

log = logging.getLogger("akari.server")


def viewer_from_request(request: Request) -> Viewer | None:
    # Imported on first use: the sign-in library declares its cookie component at import, which must happen once
    # the server's runtime exists (an import here, at start-up, registers it where the server never looks).
    from ui.signin import viewer_from_request as from_cookie

    return from_cookie(request)


def configure_logging() -> None:
    """Akari's log as the settings say; with settings that do not load, the defaults (the failure is logged)."""
    try:
        settings = load_settings()
    except AkariError:
        logs.configure()
    else:
        logs.configure(settings.log_level, settings.log_format, settings.secret_values)


@asynccontextmanager
async def lifespan(_app: st.App) -> AsyncIterator[None]:
    configure_logging()
    send_small_answers_at_once()
    # Workers and the queue's recovery start with the server, not at the first page view.
    with suppress(AkariError):  # logged; every page shows the sentence until a retry succeeds
        await run_in_threadpool(runtime.open_studio)
    yield
    await run_in_threadpool(runtime.close_studio)


def on_script_error(exc: Exception) -> bool:
    """Whatever escapes a page is shown as a sentence, never as a traceback; the detail goes to the log."""
    if isinstance(exc, SQLAlchemyError):
        error: AkariError = translated(exc)
    elif isinstance(exc, AkariError):
        error = exc
    else:
        error = AkariError("Something went wrong on our side. Please try again; if it keeps happening, tell your "
                           "administrator.")
    log.error("a page failed: %s", error.log_line(), exc_info=not isinstance(exc, AkariError | SQLAlchemyError))
    st.error(error.message)
    return True


app = st.App("app.py",
             routes=[*image_routes(with_tokens(viewer_from_request)), *api_routes(viewer_from_request),
                     *session_routes()],
             lifespan=lifespan, middleware=[Middleware(SecurityHeaders, viewer_of=viewer_from_request)],
             on_script_error=on_script_error)
