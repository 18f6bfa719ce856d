"""The one Studio per app process, and the banner that says which backends are in use."""

from __future__ import annotations

import streamlit as st

from akari.studio import Studio


@st.cache_resource(show_spinner="Opening the studio…")
def get_studio() -> Studio:
    """Built once per process: its worker threads outlive page reruns, so a click elsewhere loses no image."""
    # Reading secrets.toml copies its root-level strings (CLOUDFLARE_ID, CLOUDINARY_URL...) into the environment,
    # where the settings look; do it before the settings are read. False (no file) is fine.
    st.secrets.load_if_toml_exists()
    return Studio.open()


def show_backends(where: str = "sidebar") -> None:
    """Say plainly which generator, store and database this app is using."""
    backends = get_studio().backends
    target = st.sidebar if where == "sidebar" else st
    if backends.offline:
        target.info(
            "**Offline mode**: images are *sketches drawn locally*, not AI output. "
            "Set CLOUDFLARE_ID and CLOUDFLARE_API_KEY to use FLUX.1 [schnell].",
            icon=":material/edit:",
        )
    target.caption(f"Images: {backends.generator}  \nStorage: {backends.store}  \nDatabase: {backends.database}")
