"""The one gate every page calls first, and the sidebar every signed-in page shows.

A page's first lines are `user = require_user()` (or `require_user(admin=True)`) and `sidebar(user)`. The gate
lives in each page, not only in app.py: with a `pages/` folder, Streamlit can run a page file without the entrypoint.
"""

from __future__ import annotations

import logging

import jwt
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError
from streamlit_authenticator.utilities import LoginError

from akari.accounts import CurrentUser
from ui.context import get_studio, show_backends
from ui.layout import PAGE_CSS
from ui.signin import SignInService, flash, sign_in_screen, sign_in_service
from ui.text import plain

__all__ = ["CurrentUser", "require_user", "sidebar"]

log = logging.getLogger("akari.ui")

LOGOUT_KEY = "sidebar_logout"  # not "logout": the library keeps its own flag under that name
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
    service = sign_in_service(studio)
    if st.session_state.pop(_LOGOUT_REQUESTED, False) and st.session_state.get("authentication_status"):
        service.authenticator.logout(location="unrendered")  # clears the session and deletes the cookie
        flash("info", "You are signed out.")
    user = _session_user(service) or _cookie_user(service)
    if user is None:
        user = sign_in_screen(service)  # returns only once someone signed in during this run
    if admin and not user.is_admin:
        sidebar(user)
        st.error("Only administrators can open this page. Ask an administrator if you need something changed.")
        st.stop()
    return user


def _session_user(service: SignInService) -> CurrentUser | None:
    """The user this session signed in as, if the database still lets them in (enabled, not deleted)."""
    state = st.session_state
    if state.get("authentication_status") is not True:
        return None
    user = service.accounts.current_user(state.get("username"))
    if user is None:
        # The cookie is only a signed username: this check, on every run, is what ends a disabled user's session.
        service.authenticator.logout(location="unrendered")
        flash("warning", "Your account is disabled or was removed, so you were signed out. Ask your administrator.")
        return None
    # The library captured these at sign-in; the database is the truth (a revoked admin is no longer admin).
    state["roles"], state["name"], state["email"] = list(user.roles), user.name, user.email
    return user


def _cookie_user(service: SignInService) -> CurrentUser | None:
    """Sign in from a valid cookie (a returning visitor). No rerun: the navigation is the same for everyone (each page
    gates itself), so the page goes on in this very run."""
    state = st.session_state
    try:
        service.authenticator.login(location="unrendered")
    except (LoginError, jwt.PyJWTError) as exc:
        # A cookie for an account that is disabled or gone, or one that was tampered with: treat as signed out.
        log.info("sign-in cookie refused: %s", exc)
        return None
    if state.get("authentication_status") is not True:
        return None
    return _session_user(service)


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
