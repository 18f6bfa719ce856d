"""The Admin page's sections: users, sign-up and quotas, backend health, pending uploads and recent failures."""

from __future__ import annotations

import logging

import pandas as pd
import streamlit as st

from akari.accounts import Account, CurrentUser
from akari.errors import AkariError
from akari.preferences import REGISTRATION_MODES
from akari.roles import ADMIN, MEMBER
from ui import api_admin_view
from ui.context import get_studio
from ui.invitations_view import invitations_section
from ui.models_admin_view import models_admin
from ui.sessions_view import admin_sign_out
from ui.text import plain

log = logging.getLogger("akari.ui")

NOTICE_KEY = "admin_notice"  # a success message carried over the rerun that refreshes the tables
FAILURES_SHOWN = 50
MODE_LABELS = {
    "closed": "Closed: only administrators create accounts",
    "open": "Open: anyone who can reach the app may sign up",
    "allowlist": "Listed emails and @domains, proven by a code sent by email (needs AKARI_SMTP_HOST)",
}


def _done(message: str) -> None:
    st.session_state[NOTICE_KEY] = message
    st.rerun()


def page(user: CurrentUser) -> None:
    st.title("Admin")
    if notice := st.session_state.pop(NOTICE_KEY, None):
        st.success(notice)
    # Keyed, so a button inside a tab (Check connection, Retry now) does not bring the reader back to the first tab;
    # "rerun" makes only the open tab's content run, so a click reads only what that tab shows.
    tabs = ["Users", "Sign-up and quotas", "Backends", "Failures"]
    users, signup, backends, failures = st.tabs(tabs, key="admin_tab", on_change="rerun")
    if users.open:
        with users:
            accounts = get_studio().accounts.list()
            default_quota = _default_quota()
            users_table(accounts)
            add_user_form(default_quota)
            manage_user(accounts, user, default_quota)
    if signup.open:
        with signup:
            signup_form()
            invitations_section(user)
    if backends.open:
        with backends:
            backend_health()
            models_admin()
            pending_uploads()
            api_admin_view.section(user)
    if failures.open:
        with failures:
            recent_failures()


def users_table(accounts: list[Account]) -> None:
    today = get_studio().quotas.today_by_user()
    rows = [
        {
            "Username": a.username,
            "Name": a.name,
            "Email": a.email,
            "Role": "Administrator" if a.is_admin else "Member",
            "State": ("Enabled" if a.enabled else "Disabled") if a.can_sign_in else "No password",
            "Daily quota": "default" if a.daily_quota is None else str(a.daily_quota),
            "Used today": today.get(a.id, 0),
            "Created": a.created_at,
        }
        for a in accounts
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="admin_users_table")


def _quota_input(label: str, key: str, value: int | None, default: int) -> int | None:
    raw = st.number_input(label, min_value=0, step=1, value=value, key=key, placeholder=f"default ({default})",
                          help="Generations per UTC day. Leave empty for the default.")
    return None if raw is None else int(raw)


def _default_quota() -> int:
    return get_studio().quotas.get_default()


NEW_USER_FIELDS = ("admin_new_username", "admin_new_name", "admin_new_email", "admin_new_quota",
                   "admin_new_password", "admin_new_repeat", "admin_new_admin")
NEW_USER_CLEARED = {"admin_new_username": "", "admin_new_name": "", "admin_new_email": "", "admin_new_quota": None,
                    "admin_new_password": "", "admin_new_repeat": "", "admin_new_admin": False}
NEW_USER_ERROR_KEY = "admin_new_error"


def _create_user() -> None:
    """Submit callback (runs before the widgets): on success every field is cleared; on a refusal only the passwords
    go (a password typed for someone else should not stay on the screen) and the rest stays to be corrected."""
    state = st.session_state
    values = {key: state.get(key) for key in NEW_USER_FIELDS}
    for key in ("admin_new_password", "admin_new_repeat"):
        state[key] = ""
    if values["admin_new_password"] != values["admin_new_repeat"]:
        state[NEW_USER_ERROR_KEY] = "The two passwords differ. Type the password twice again."
        return
    quota = values["admin_new_quota"]
    try:
        account = get_studio().accounts.create_user(
            values["admin_new_username"] or "", values["admin_new_password"] or "", name=values["admin_new_name"],
            email=values["admin_new_email"], roles=(ADMIN,) if values["admin_new_admin"] else (MEMBER,),
            daily_quota=None if quota is None else int(quota))
    except AkariError as exc:
        state[NEW_USER_ERROR_KEY] = exc.message + " The password fields were cleared: type it twice again."
        return
    state.update(NEW_USER_CLEARED)
    state[NOTICE_KEY] = f"Created the account {account.username}."


def add_user_form(default_quota: int) -> None:
    refused = st.session_state.pop(NEW_USER_ERROR_KEY, None)
    # Keyed: it stays open over the rerun that shows a refusal (or the new account).
    with st.expander("Add a user", key="admin_add_user"), st.form("admin_new_user"):
        left, right = st.columns(2)
        left.text_input("Username", key="admin_new_username", help="3-32 characters: a-z, 0-9, . - _")
        right.text_input("Name", key="admin_new_name")
        left.text_input("Email (optional)", key="admin_new_email")
        with right:
            _quota_input("Daily quota", "admin_new_quota", None, default_quota)
        left.text_input("Password", type="password", key="admin_new_password",
                        help="At least 10 characters. Tell it to them in person; they can change it.")
        right.text_input("Repeat the password", type="password", key="admin_new_repeat")
        st.checkbox("Administrator", key="admin_new_admin")
        if refused:
            st.error(plain(refused))
        st.form_submit_button("Create the account", key="admin_new_submit", type="primary", on_click=_create_user)


def manage_user(accounts: list[Account], acting: CurrentUser, default_quota: int) -> None:
    st.subheader("Change a user")
    if not accounts:
        return
    by_name = {a.username: a for a in accounts}
    username = st.selectbox("User", list(by_name), key="admin_user")
    if username is None:
        return
    account = by_name[username]
    settings, password = st.columns(2, gap="large")
    with settings, st.form(f"admin_edit_{username}"):
        # Keys carry the username: each user's form starts from that user's values.
        enabled = st.toggle("Can sign in (enabled)", value=account.enabled, key=f"admin_edit_enabled_{username}")
        is_admin = st.checkbox("Administrator", value=account.is_admin, key=f"admin_edit_admin_{username}")
        quota = _quota_input("Daily quota", f"admin_edit_quota_{username}", account.daily_quota, default_quota)
        save = st.form_submit_button("Save changes", key=f"admin_edit_submit_{username}", type="primary")
    if save:
        try:
            get_studio().accounts.update(username, enabled=enabled, roles=(ADMIN,) if is_admin else (MEMBER,),
                                         daily_quota=quota, acting=acting.username)
        except AkariError as exc:
            st.error(plain(exc.message))
        else:
            _done(f"Saved the changes to {username}.")
    with password, st.form(f"admin_reset_{username}", clear_on_submit=True):
        new = st.text_input("New password", type="password", key=f"admin_reset_password_{username}",
                            autocomplete="new-password")
        repeat = st.text_input("Repeat it", type="password", key=f"admin_reset_repeat_{username}",
                               autocomplete="new-password")
        reset = st.form_submit_button("Reset the password", key=f"admin_reset_submit_{username}")
    if reset:
        if new != repeat:
            st.error("The two passwords differ.")
            return
        try:
            get_studio().accounts.set_password(username, new)
        except AkariError as exc:
            st.error(plain(exc.message))
        else:
            _done(f"The password of {username} is reset and they are signed out everywhere; any sign-in pause on it "
                  "is lifted.")
    admin_sign_out(username, account.id)


def signup_form() -> None:
    studio = get_studio()
    current = studio.accounts.registration()
    with st.form("admin_registration"):
        mode = st.radio("Who may create an account", REGISTRATION_MODES, index=REGISTRATION_MODES.index(current.mode),
                        format_func=MODE_LABELS.__getitem__, key="admin_registration_mode")
        allowlist = st.text_area("Invited emails and @domains, one per line", value="\n".join(current.allowlist),
                                 key="admin_registration_allowlist", placeholder="ana@example.com\n@example.org")
        stored_default = studio.quotas.get_default()
        default_quota = st.number_input(
            "Default daily quota", min_value=0, step=1, value=stored_default, key="admin_default_quota",
            help=f"For users without their own (the AKARI_DAILY_QUOTA setting: {studio.settings.default_daily_quota}).",
        )
        submitted = st.form_submit_button("Save", key="admin_registration_submit", type="primary")
    if not submitted:
        return
    try:
        studio.accounts.set_registration(mode, allowlist.splitlines())
        studio.quotas.set_default(int(default_quota))
    except AkariError as exc:
        st.error(plain(exc.message))
        return
    _done("Sign-up and quota settings saved.")


def _check(label: str, check: object, key: str) -> None:
    if not st.button("Check connection", key=key):
        return
    with st.spinner(f"Checking {label}…"):
        try:
            status = check()  # type: ignore[operator]
        except AkariError as exc:
            log.warning("%s check failed: %s", label, exc.log_line())
            st.error(plain(exc.message), icon=":material/error:")
        except Exception as exc:  # a backend bug must still read as a result, not crash the admin page
            log.exception("%s check crashed", label)
            st.error(f"The check itself failed ({type(exc).__name__}). See the server log.", icon=":material/error:")
        else:
            st.success(plain(str(status)), icon=":material/check_circle:")


def backend_health() -> None:
    studio = get_studio()
    backends = studio.backends
    generator, store = st.columns(2, gap="large")
    with generator:
        st.subheader("Image generator")
        st.text(backends.generator)
        _check("the image generator", studio.generator.check, "admin_check_generator")
    with store:
        st.subheader("Image store")
        st.text(backends.store)
        _check("the image store", studio.store.check, "admin_check_store")
    st.caption(f"Database: {plain(backends.database)}")


def pending_uploads() -> None:
    st.subheader("Images waiting for upload")
    studio = get_studio()
    st.metric("Waiting", studio.generations.pending_uploads())
    st.caption("Made and paid for, but the store refused them; they are kept on the server until uploaded.")
    if st.button("Retry now", key="admin_retry_uploads"):
        with st.spinner("Uploading…"):
            report = studio.retry_uploads()
        message = (f"Uploaded {len(report.stored)}; still waiting {len(report.still_pending)}; "
                   f"lost {len(report.missing)}.")
        if report.still_pending or report.missing:
            st.warning(message)
            for generation_id, reason in report.still_pending.items():
                st.text(f"#{generation_id}: {reason}")
        else:
            _done(message)


def recent_failures() -> None:
    st.subheader("Recent failures, everyone")
    rows = [
        {
            "When (UTC)": r.created_at,
            "User": r.username,
            "Reason": r.error_reason or "error",
            "Message": r.error_message or "",
            "Prompt": r.prompt,
        }
        for r in get_studio().generations.recent_failures(limit=FAILURES_SHOWN)
    ]
    if not rows:
        st.info("No failed generations.")
        return
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="admin_failures_table")
