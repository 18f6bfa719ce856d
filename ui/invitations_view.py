"""The Admin page's invitations: create a link for one email or for a team, see the open ones, withdraw them."""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from akari.accounts import CurrentUser
from akari.errors import AkariError
from akari.invitations import DEFAULT_DAYS, MAX_DAYS, MAX_USES
from ui.context import get_studio
from ui.signin import INVITE_PARAM
from ui.text import plain

LINK_KEY = "invitations_new_link"  # the link just made, shown once


def invitation_link(token: str) -> str:
    """The link to send: the Account page of this very server, which shows the registration form to its holder."""
    current = urlsplit(st.context.url or "")
    base = f"{current.scheme}://{current.netloc}" if current.scheme and current.netloc else ""
    return f"{base}/account?{INVITE_PARAM}={token}"


def invitations_section(user: CurrentUser) -> None:
    studio = get_studio()
    st.subheader("Invitations")
    st.caption("An invitation is the way in when sign-up is not open: a link for one email address (used once), or "
               "for a team (N uses). Whoever holds the link can register, so send it privately.")
    with st.form("invitation_new", clear_on_submit=True):
        email = st.text_input("For this email only (optional)", key="invitation_email", max_chars=254)
        uses = st.number_input("Uses (when not for one email)", min_value=1, max_value=MAX_USES, value=1, step=1,
                               key="invitation_uses")
        days = st.number_input("Valid for days", min_value=1, max_value=MAX_DAYS, value=DEFAULT_DAYS, step=1,
                               key="invitation_days")
        create = st.form_submit_button("Create the invitation link", key="invitation_create", type="primary")
    if create:
        try:
            _, token = studio.invitations.create(user.id, email=email, uses=1 if email.strip() else int(uses),
                                                 days=int(days))
        except AkariError as exc:
            st.error(plain(exc.message))
        else:
            st.session_state[LINK_KEY] = invitation_link(token)
    if link := st.session_state.pop(LINK_KEY, None):
        st.success("Send this link; it is shown only now.")
        st.code(link, language=None)
    for invitation in studio.invitations.open():
        who, left, action = st.columns([3, 2, 1], vertical_alignment="center")
        who.text(invitation.email or "Anyone with the link")
        left.caption(f"{invitation.uses_left} use(s) left · until {invitation.expires_at:%Y-%m-%d %H:%M} UTC")
        if action.button("Withdraw", key=f"invitation_withdraw_{invitation.id}"):
            studio.invitations.withdraw(invitation.id)
            st.rerun()
