"""The Admin page's HTTP API section: the on/off switch for everyone."""

from __future__ import annotations

import streamlit as st

from akari.accounts import CurrentUser
from akari.api_access import api_enabled, set_api_enabled
from akari.errors import AkariError
from ui.context import get_studio
from ui.text import plain


def section(user: CurrentUser) -> None:
    studio = get_studio()
    st.subheader("HTTP API")
    enabled = api_enabled(studio.sessions)
    wanted = st.toggle("HTTP API on", value=enabled, key="api_enabled_toggle",
                       help="Off: every /api route answers 503 (reason api_off) for tokens and browsers alike.")
    if wanted != enabled:
        try:
            set_api_enabled(studio.sessions, user, wanted)
        except AkariError as exc:
            st.error(plain(exc.message))
        else:
            st.success(f"The HTTP API is {'on' if wanted else 'off'}.")
    st.caption("Routes: `GET /api` lists them. Tokens are made on each person's Account page.")
