"""Showing a generation's image: the browser fetches it from its store (or the app's image route) and caches it."""

from __future__ import annotations

import logging

import streamlit as st

from akari.errors import AkariError
from akari.records import GenerationRecord
from akari.stores import Size
from ui.context import get_studio

log = logging.getLogger("akari.ui")
UNAVAILABLE = "This image cannot be shown right now. It is kept; try again in a moment."


def _origin() -> str | None:
    """scheme://host:port the browser used; None outside a real server (AppTest)."""
    parts = (st.context.url or "").split("/", 3)
    return "/".join(parts[:3]) if len(parts) >= 3 and parts[0] in ("http:", "https:") else None


def image_url(record: GenerationRecord, size: Size = "thumb") -> str | None:
    """A full URL for widgets that take only full URLs, or None when the image is shown from its bytes."""
    url = get_studio().images.url(record, size)
    if url is None or not url.startswith("/"):
        return url
    origin = _origin()
    return origin + url if origin else None


def show_image(record: GenerationRecord, size: Size = "thumb") -> None:
    """The image by URL (no bytes pass through the app); one still waiting in the spool is read and sent once.
    A store that fails gives a sentence in the image's place, never a traceback with server paths."""
    try:
        url = image_url(record, size)
        st.image(url if url else get_studio().images.read(record), width="stretch")
    except AkariError as exc:
        log.warning("image of generation %s not shown: %s", record.id, exc.log_line())
        st.info(UNAVAILABLE, icon=":material/broken_image:")
    except Exception:  # Streamlit's media errors name server files: log them, show a sentence
        log.exception("image of generation %s not shown", record.id)
        st.info(UNAVAILABLE, icon=":material/broken_image:")
