"""The Account page's API tokens: make one (shown once), see them with their last use, revoke; admins: everyone's."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from akari.accounts import CurrentUser
from akari.errors import AkariError
from akari.tokens import TokenInfo
from ui.context import get_studio
from ui.text import plain

NEW_TOKEN_KEY = "tokens_new_secret"  # the token just made, shown in the next run only
NOTICE_KEY = "tokens_notice"
EXPIRY_CHOICES: dict[str, int | None] = {"Never": None, "7 days": 7, "30 days": 30, "90 days": 90, "1 year": 365}


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "–"


def _table(tokens: list[TokenInfo], *, with_owner: bool) -> None:
    rows = [{**({"Owner": t.username} if with_owner else {}), "#": t.id, "Name": t.name, "Starts with": t.prefix,
             "State": t.state(), "Created": _when(t.created_at), "Expires": _when(t.expires_at) if t.expires_at
             else "never", "Last used": _when(t.last_used_at)} for t in tokens]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _revoke_form(user: CurrentUser, tokens: list[TokenInfo], key: str) -> None:
    active = [t for t in tokens if t.state() == "active"]
    if not active:
        return
    with st.form(f"{key}_form"):
        picked = st.selectbox("Revoke a token", active, key=f"{key}_pick",
                              format_func=lambda t: f"#{t.id} {t.name} ({t.username}, {t.prefix}…)")
        revoke = st.form_submit_button("Revoke", key=key)
    if revoke and picked is not None:
        try:
            get_studio().tokens.revoke(user, picked.id)
        except AkariError as exc:
            st.error(plain(exc.message))
        else:
            st.session_state[NOTICE_KEY] = f"Token #{picked.id} is revoked: its next call fails."
            st.rerun()


def section(user: CurrentUser) -> None:
    tokens = get_studio().tokens
    st.subheader("API tokens")
    st.caption("For scripts and other apps calling the HTTP API (`Authorization: Bearer <token>`); see `/api`.")
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice)
    if secret := st.session_state.pop(NEW_TOKEN_KEY, None):
        st.success("Your new token is below. Copy it now: it is shown only this once.")
        st.code(secret, language=None)
    with st.form("tokens_create_form", clear_on_submit=True):
        name = st.text_input("Name", key="tokens_name", max_chars=64, placeholder="e.g. nightly script")
        expiry = st.selectbox("Expires after", list(EXPIRY_CHOICES), key="tokens_expiry")
        create = st.form_submit_button("Create token", key="tokens_create", type="primary")
    if create:
        try:
            made = tokens.create(user, user.id, name, EXPIRY_CHOICES[expiry])
        except AkariError as exc:
            st.error(plain(exc.message))
        else:
            st.session_state[NEW_TOKEN_KEY] = made.token
            st.rerun()
    mine = tokens.list(user, user.id)
    if mine:
        _table(mine, with_owner=False)
        _revoke_form(user, mine, "tokens_revoke")
    else:
        st.caption("You have no API tokens.")
    if user.is_admin:
        with st.expander("Everyone's tokens (administrators)"):
            everyone = tokens.list(user)
            _table(everyone, with_owner=True)
            _revoke_form(user, everyone, "tokens_admin_revoke")
