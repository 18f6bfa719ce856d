"""The sign-in sessions sections: a user's own browsers on the Account page, "sign out everywhere" for admins."""

from __future__ import annotations

import re
from datetime import datetime

import streamlit as st

from akari.accounts import CurrentUser
from akari.db.models import utcnow
from ui.context import get_studio
from ui.signin import current_session_id
from ui.text import plain

NOTICE_KEY = "sessions_notice"
_BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chromium/", "Chromium"), ("Chrome/", "Chrome"),
             ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"),
            ("Mac OS X", "macOS"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def device(user_agent: str) -> str:
    """A short, readable name for a browser from its User-Agent ("Firefox on Linux")."""
    browser = next((name for mark, name in _BROWSERS if mark in user_agent), "")
    system = next((name for mark, name in _SYSTEMS if mark in user_agent), "")
    if "HeadlessChrome" in user_agent:
        browser = "Headless Chrome"
    if browser and system:
        return f"{browser} on {system}"
    return browser or system or (re.sub(r"\s+", " ", user_agent)[:40] or "Unknown browser")


def _ago(moment: datetime, now: datetime) -> str:
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds < 120:
        return "just now"
    if seconds < 7200:
        return f"{seconds // 60} minutes ago"
    if seconds < 172800:
        return f"{seconds // 3600} hours ago"
    return f"{seconds // 86400} days ago"


def own_sessions(user: CurrentUser) -> None:
    """Where this user is signed in, with a button to end each, and one to end all but this one."""
    signins = get_studio().signins
    st.subheader("Where you are signed in")
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice)
    here = current_session_id()
    now = utcnow()
    sessions = signins.list_for(user.id)
    for info in sessions:
        label, seen, action = st.columns([3, 2, 1], vertical_alignment="center")
        label.text(device(info.user_agent) + ("  (this browser)" if info.id == here else ""))
        seen.caption(f"Last seen {_ago(info.last_seen_at, now)} · signed in {info.created_at:%Y-%m-%d %H:%M} UTC")
        if info.id != here and action.button("Sign out", key=f"session_end_{info.id}"):
            signins.end(info.id, user_id=user.id)  # only ever one of the user's own sessions
            st.session_state[NOTICE_KEY] = f"Signed out {device(info.user_agent)}."
            st.rerun()
    others = [info for info in sessions if info.id != here]
    if others and st.button("Sign out everywhere else", key="sessions_end_others"):
        signins.end_all(user.id, keep=here)
        st.session_state[NOTICE_KEY] = "Every other browser is signed out."
        st.rerun()
    st.caption("A sign-in lasts 14 days. Changing your password signs out every other browser.")


def admin_sign_out(username: str, user_id: int) -> None:
    """For the admin's "Change a user" section: end every sign-in of that user at once."""
    if st.button("Sign out everywhere", key=f"admin_signout_{username}",
                 help="Ends every sign-in of this user now; they can sign in again."):
        get_studio().signins.end_all(user_id)
        st.success(f"{plain(username)} is signed out everywhere.")
