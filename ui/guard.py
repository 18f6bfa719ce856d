"""The one gate every page calls first, and the sidebar every signed-in page shows.

A page's first lines are `user = require_user()` (or `require_user(admin=True)`) and `sidebar(user)`. The gate
lives in each page, not only in app.py: with a `pages/` folder, Streamlit can run a page file without the entrypoint.
"""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from akari.accounts import CurrentUser
from ui.context import get_studio, show_backends
from ui.layout import PAGE_CSS
from ui.signin import deliver_cookie, session_user, sign_in_screen, sign_out
from ui.text import plain

__all__ = ["CurrentUser", "require_user", "sidebar"]

LOGOUT_KEY = "sidebar_logout"
_LOGOUT_REQUESTED = "_akari_logout_requested"


def require_user(admin: bool = False) -> CurrentUser:
    """The signed-in user, re-read from the database; otherwise the sign-in screen and `st.stop()`.

    With `admin=True`, members see a refusal instead of the page.
    """
    # The same wide layout when a deep link on a fresh server runs this page before app.py has (a `pages/` folder
    # makes Streamlit run page files alone until st.navigation runs once; its raw file list is switched off by
    # client.showSidebarNavigation = false in .streamlit/config.toml).
    st.set_page_config(layout="wide")
    studio = get_studio()
    if st.session_state.pop(_LOGOUT_REQUESTED, False):
        sign_out(studio)
    user = session_user(studio)
    if user is None:
        sign_in_screen(studio)  # stops the script
    deliver_cookie()
    if admin and not user.is_admin:
        sidebar(user)
        st.error("Only administrators can open this page. Ask an administrator if you need something changed.")
        st.stop()
    return user


NAVIGATION = (
    ("pages/generate.py", "Generate", ":material/auto_awesome:"),
    ("pages/gallery.py", "Gallery", ":material/photo_library:"),
    ("pages/usage.py", "Usage", ":material/bar_chart:"),
    ("pages/account.py", "Account", ":material/person:"),
)
ADMIN_LINK = ("pages/admin.py", "Admin", ":material/admin_panel_settings:")


def _menu(user: CurrentUser) -> None:
    """Links to the pages this person may open; absent when a page runs on its own (no navigation to link to)."""
    links = [*NAVIGATION, *([ADMIN_LINK] if user.is_admin else [])]
    try:
        for path, title, icon in links:
            st.page_link(path, label=title, icon=icon)
    except StreamlitPageNotFoundError:
        return
    st.divider()


def _request_logout() -> None:
    st.session_state[_LOGOUT_REQUESTED] = True


def sidebar(user: CurrentUser) -> None:
    """Who is signed in, their role, Logout, and which backends the studio uses; the same on every page."""
    st.html(PAGE_CSS)
    with st.sidebar:
        _menu(user)
        st.text(user.name)
        st.caption(f"{user.role_label} · {plain(user.username)}")
        st.button("Log out", key=LOGOUT_KEY, on_click=_request_logout, width="stretch")
    show_backends(user.is_admin)
