"""Account: change your own name, email and password."""

from __future__ import annotations

import streamlit as st

from akari.errors import AkariError
from ui.context import get_studio
from ui.guard import require_user, sidebar
from ui.sessions_view import own_sessions
from ui.signin import current_session_id
from ui.text import plain
from ui.tokens_view import section as tokens_section

NOTICE_KEY = "account_notice"  # a success message carried over the rerun that refreshes the sidebar

user = require_user()
sidebar(user)
accounts = get_studio().accounts

st.title("Your account")
st.caption(f"Signed in as {plain(user.username)} · {user.role_label}")
if notice := st.session_state.pop(NOTICE_KEY, None):
    st.success(notice)

details, password = st.columns(2, gap="large")

with details:
    st.subheader("Name and email")
    with st.form("account_details"):
        name = st.text_input("Name", value=user.name, key="account_name", max_chars=128)
        email = st.text_input("Email", value=user.email, key="account_email", max_chars=254)
        save = st.form_submit_button("Save", key="account_save", type="primary")
    if save:
        try:
            accounts.update_profile(user.username, name=name, email=email)
        except AkariError as exc:
            st.error(plain(exc.message))
        else:
            st.session_state[NOTICE_KEY] = "Your name and email are saved."
            st.rerun()

with password:
    st.subheader("Password")
    with st.form("account_password", clear_on_submit=True):
        old = st.text_input("Current password", type="password", key="account_old_password",
                            autocomplete="current-password")
        new = st.text_input("New password", type="password", key="account_new_password",
                            help="At least 10 characters; a passphrase of a few words is ideal.",
                            autocomplete="new-password")
        repeat = st.text_input("Repeat the new password", type="password", key="account_repeat_password",
                               autocomplete="new-password")
        change = st.form_submit_button("Change password", key="account_change_password", type="primary")
    if change:
        if new != repeat:
            st.error("The two new passwords differ.")
        else:
            try:
                accounts.change_password(user.username, old, new, keep_session=current_session_id())
            except AkariError as exc:
                st.error(plain(exc.message))
            else:
                st.success("Your password is changed. Every other browser is signed out.")

own_sessions(user)
tokens_section(user)
