"""Showing a generation's image: the browser fetches it from its store (or the app's image route) and caches it."""

from __future__ import annotations

import streamlit as st

from akari.errors import AkariError
from akari.records import GenerationRecord
from akari.stores import Size
from ui.context import get_studio


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
    """The image by URL (no bytes pass through the app); one still waiting in the spool is read and sent once."""
    url = image_url(record, size)
    if url:
        st.image(url, width="stretch")
        return
    try:
        st.image(get_studio().images.read(record), width="stretch")
    except AkariError:
        st.info("The image file is missing from the server.", icon=":material/broken_image:")
