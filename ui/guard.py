"""The one gate every page calls first, and the sidebar every signed-in page shows.

A page's first lines are `user = require_user()` (or `require_user(admin=True)`) and `sidebar(user)`. The gate
lives in each page, not only in app.py: with a `pages/` folder, Streamlit can run a page file without the entrypoint.
"""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError
from streamlit.runtime.pages_manager import PagesManager

from akari.accounts import CurrentUser
from ui.context import get_studio, show_backends
from ui.signin import deliver_cookie, session_user, sign_in_screen, sign_out
from ui.text import plain

__all__ = ["CurrentUser", "require_user", "sidebar", "signed_in_user"]

LOGOUT_KEY = "sidebar_logout"
_LOGOUT_REQUESTED = "_akari_logout_requested"
_SESSION_STARTED = "_akari_session_started"


def signed_in_user() -> CurrentUser | None:
    """Who this session is signed in as, re-read from the database; renders nothing. For app.py's navigation."""
    if st.session_state.get(_LOGOUT_REQUESTED):
        return None
    return session_user(get_studio())


def require_user(admin: bool = False) -> CurrentUser:
    """The signed-in user, re-read from the database; otherwise the sign-in screen and `st.stop()`.

    With `admin=True`, members see a refusal instead of the page.
    """
    _leave_folder_mode()
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


def _leave_folder_mode() -> None:
    """Switch off Streamlit's old `pages/` folder mode; on a session's first run, rerun through app.py.

    On a fresh server, a deep link opened before anyone loaded "/" (say /gallery) runs the page file without app.py
    and leaves the whole process in folder mode, with a sidebar listing every file, until app.py's st.navigation
    runs. Turning the flag off (as st.navigation does) and rerunning sends this visit through app.py; the page keeps
    its URL because app.py gives each page the same url_path as its file name. Later runs are not rerun: a rerun
    would drop the click that started them (AppTest puts the flag back before every run).
    """
    first_run = _SESSION_STARTED not in st.session_state
    st.session_state[_SESSION_STARTED] = True
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        if first_run:
            st.rerun()


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
    with st.sidebar:
        _menu(user)
        st.text(user.name)
        st.caption(f"{user.role_label} · {plain(user.username)}")
        st.button("Log out", key=LOGOUT_KEY, on_click=_request_logout, width="stretch")
    show_backends()
