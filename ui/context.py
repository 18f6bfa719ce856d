"""The studio this app process serves, the short page shown when it cannot start, and the backends banner."""

from __future__ import annotations

import streamlit as st

from akari import runtime
from akari.errors import AkariError
from akari.studio import Studio
from ui.text import plain


def get_studio() -> Studio:
    """The process's studio (opened with the server, workers running); on a start-up failure, a short page saying
    what to fix, and nothing else."""
    try:
        return runtime.open_studio()
    except AkariError as exc:
        st.set_page_config(page_title="Akari cannot start")
        st.title("Akari cannot start")
        st.error(plain(exc.message))
        st.caption("The details are in the server's log. This page tries again when you reload it.")
        st.stop()
        raise  # not reached: st.stop() ends the run


MEMBER_AI_LABEL = "AI images by Cloudflare Workers AI"  # each image names its model
MEMBER_OFFLINE_LABEL = "Offline sketches, not AI"


def show_backends(is_admin: bool, where: str = "sidebar") -> None:
    """What makes the images, in one line for members; for administrators also the store, the database and what to
    set (server paths and environment variables are theirs to see, nobody else's)."""
    backends = get_studio().backends
    target = st.sidebar if where == "sidebar" else st
    if not is_admin:
        if backends.offline:
            target.caption(f":material/draw: {MEMBER_OFFLINE_LABEL}")
        else:
            target.caption(f":material/bolt: {MEMBER_AI_LABEL}")
        return
    if backends.offline:
        target.info(
            "**Offline mode**: images are *sketches drawn locally*, not AI output. "
            "Set CLOUDFLARE_ID and CLOUDFLARE_API_KEY to use the Workers AI models.",
            icon=":material/edit:",
        )
    target.caption(f"Images: {backends.generator}  \nStorage: {plain(backends.store)}  \n"
                   f"Database: {plain(backends.database)}")
