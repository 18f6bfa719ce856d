"""The sign-in screen (sign-in, first-run administrator, self-registration) and this tab's sign-in session."""

from __future__ import annotations

import json
import secrets
from typing import Any, NoReturn
from urllib.parse import urlencode

import streamlit as st
import streamlit_authenticator as stauth
from starlette.requests import Request
from streamlit_authenticator.utilities import RegisterError

from akari import accounts as rules
from akari import invitations, runtime
from akari.accounts import Accounts, CurrentUser
from akari.errors import AkariError
from akari.inputs import check_field
from akari.invitations import Invitation
from akari.roles import MEMBER
from akari.studio import Studio
from akari.web.signin import COOKIE_NAME, SESSION_ROUTE, SIGNOUT_ROUTE
from ui.text import plain

__all__ = ["COOKIE_NAME", "current_session_id", "deliver_cookie", "session_user", "sign_in_screen", "sign_out",
           "viewer_from_request"]

# Widget keys (tests and the browser suite address widgets by these).
SIGNIN_USERNAME = "signin_username"
SIGNIN_PASSWORD = "signin_password"
SIGNIN_SUBMIT = "signin_submit"
FIRST_ADMIN_USERNAME = "first_admin_username"
FIRST_ADMIN_NAME = "first_admin_name"
FIRST_ADMIN_EMAIL = "first_admin_email"
FIRST_ADMIN_PASSWORD = "first_admin_password"
FIRST_ADMIN_REPEAT = "first_admin_repeat"
FIRST_ADMIN_SUBMIT = "first_admin_submit"
REGISTER_FORM = "register"
# The registration form is the library's and its inputs take no keys: these labels are unique on the screen.
REGISTER_FIELDS = {
    "Form name": "Create an account",
    "First name": "Your name",
    "Last name": "Family name (optional)",
    "Email": "Your email",
    "Username": "Choose a username",
    "Password": "Choose a password",
    "Repeat password": "Repeat the chosen password",
    "Register": "Create my account",
}

VERIFY_EMAIL = "register_verify_email"
VERIFY_SEND = "register_send_code"
VERIFY_CODE = "register_code"
INVITE_PARAM = "invite"  # ?invite=TOKEN: an administrator's invitation link
SESSION_ID = "_akari_session_id"  # this tab's sign-in session (server-side state: the browser never sees it)
_USERNAME = "_akari_session_username"  # whose session it is, to say why it ended (a disabled account)
_TICKET = "_akari_cookie_ticket"  # a one-time ticket the page trades for the HttpOnly cookie, once
_FORGET_COOKIE = "_akari_forget_cookie"  # after Log out: ask the server to clear the cookie
_FLASH = "_akari_flash"  # (kind, message) shown once on the next sign-in screen
_PREFILL_USERNAME = "_akari_prefill_username"  # a username just created, for the next sign-in form


def _field_in_words(value: str, label: str) -> None:
    """The core's rule for control characters, raised the way the library's form reports a problem."""
    try:
        check_field(value, label)
    except AkariError as exc:
        raise RegisterError(exc.message) from None


class AkariValidator(stauth.Validator):
    """The library's checks, with Akari's rules: passphrases allowed, usernames as everywhere else in the app, and
    control characters refused in words (the library would only say "not valid")."""

    def validate_username(self, username: str) -> bool:
        _field_in_words(username, "username")
        return rules.username_problem(username) is None

    def validate_email(self, email: str) -> bool:
        _field_in_words(email, "email address")
        try:
            rules.check_email(email, required=True)
        except AkariError:
            return False
        return True

    def validate_password(self, password: str) -> bool:
        _field_in_words(password, "password")
        return not rules.password_problems(password)

    def diagnose_password(self, password: str) -> str:
        return " ".join(rules.password_problems(password))

    def validate_name(self, name: str) -> bool:
        # Called for the first and the last name; the last is optional, an empty name falls back to the username.
        _field_in_words(name, "name")
        try:
            rules.check_name(name, "")
        except AkariError:
            return False
        return True


def viewer_from_request(request: Request) -> CurrentUser | None:
    """Who sent an HTTP request to one of the app's routes, from the sign-in cookie; None when nobody valid."""
    try:
        found = runtime.open_studio().signins.find(request.cookies.get(COOKIE_NAME))
    except AkariError:
        return None
    return found[1] if found else None


def session_user(studio: Studio) -> CurrentUser | None:
    """Who this tab is signed in as, as the database says now; None when signed out or the session was ended
    (log out elsewhere, a password change, disabling). A returning browser is recognised by its cookie."""
    state = st.session_state
    session_id = state.get(SESSION_ID)
    if session_id is not None:
        user = studio.signins.user(session_id)
        if user is not None:
            state[_USERNAME] = user.username
            return user
        # Ended elsewhere: nothing of this session's state may outlive it (a draft prompt, a selection).
        username = state.get(_USERNAME)
        state.clear()
        if isinstance(username, str) and studio.accounts.current_user(username) is None:
            flash("warning", "Your account is disabled or was removed, so you were signed out. Ask your administrator.")
        else:
            flash("warning", "You were signed out: this sign-in was ended (Log out elsewhere, a password change or "
                  "an administrator). Sign in again to continue.")
        return None
    found = studio.signins.find(st.context.cookies.get(COOKIE_NAME))
    if found is None:
        return None
    state[SESSION_ID] = found[0]
    state[_USERNAME] = found[1].username
    return found[1]


def current_session_id() -> int | None:
    session_id = st.session_state.get(SESSION_ID)
    return session_id if isinstance(session_id, int) else None


def sign_out(studio: Studio) -> None:
    """End this tab's session in the database, forget everything the session held, and clear the cookie."""
    studio.signins.end(current_session_id())
    st.session_state.clear()
    st.session_state[_FORGET_COOKIE] = True
    flash("info", "You are signed out.")


def _post(route: str, body: str = "") -> None:
    # The cookie comes from an HTTP response (st.App route), never from page script: that is what makes it HttpOnly.
    st.html(f"<script>fetch({json.dumps(route)}, {{method: 'POST', credentials: 'same-origin', headers: "
            f"{{'Content-Type': 'application/x-www-form-urlencoded'}}, body: {json.dumps(body)}}});</script>",
            unsafe_allow_javascript=True)


def deliver_cookie() -> None:
    """Once after a sign-in, have the browser trade its ticket for the cookie; once after Log out, clear it."""
    ticket = st.session_state.pop(_TICKET, None)
    if ticket:
        _post(SESSION_ROUTE, urlencode({"ticket": ticket}))
    if st.session_state.pop(_FORGET_COOKIE, False):
        _post(SIGNOUT_ROUTE)


def flash(kind: str, message: str) -> None:
    """A message for the sign-in screen of the next run (kind: success, info, warning or error)."""
    st.session_state[_FLASH] = (kind, message)


def _show_flash() -> None:
    # Kept, not popped: the cookie component's reply reruns the sign-in screen a moment after a sign-out, and the
    # message must still be there. It goes once someone signs in.
    kind, message = st.session_state.get(_FLASH, (None, None))
    if kind in ("success", "info", "warning", "error") and message:
        getattr(st, kind)(message)


def sign_in_screen(studio: Studio) -> NoReturn:
    """The first-run form, or sign-in (and registration when open); always stops the script, so nothing of the page
    below is ever shown to a visitor. A successful sign-in reruns the app as that user."""
    st.set_page_config(page_title="Sign in · Akari")
    deliver_cookie()
    if studio.accounts.is_first_run():
        _first_run(studio.accounts)
        st.stop()
    _, middle, _ = st.columns([1, 2, 1])  # a form, not a page: keep it to a readable width
    with middle:
        st.title("Akari")
        _show_flash()
        invitation = _invitation(studio)
        mode = studio.accounts.registration().mode
        # A domain allowlist admits only addresses proven by an emailed code, so it needs SMTP settings.
        by_code = invitation is None and mode == "allowlist" and studio.verification.available
        if mode != "open" and invitation is None and not by_code:
            _sign_in_form(studio)
        else:
            sign_in_tab, register_tab = st.tabs(["Sign in", "Create an account"], key="signin_tab",
                                                default="Create an account" if invitation else "Sign in")
            with sign_in_tab:
                _sign_in_form(studio)
            with register_tab:
                if invitation is not None:
                    st.caption("You were invited" + (f" as {plain(invitation.email)}" if invitation.email else "")
                               + ": create your account below.")
                if by_code:
                    _email_code_form(studio)
                _registration_form(studio, st.query_params.get(INVITE_PARAM) if invitation else None,
                                   by_code=by_code)
    st.stop()


def _invitation(studio: Studio) -> Invitation | None:
    """The invitation named in the link (?invite=...), if it can still be used; a sentence if it cannot."""
    token = st.query_params.get(INVITE_PARAM)
    if token is None:
        return None
    found = studio.invitations.find(token)
    if found is None:
        st.warning(invitations.UNUSABLE)
    return found


def _sign_in_form(studio: Studio) -> None:
    if _PREFILL_USERNAME in st.session_state:
        st.session_state[SIGNIN_USERNAME] = st.session_state.pop(_PREFILL_USERNAME)
    with st.form("signin"):
        st.text_input("Username", key=SIGNIN_USERNAME, autocomplete="username")
        st.text_input("Password", type="password", key=SIGNIN_PASSWORD, autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", key=SIGNIN_SUBMIT, type="primary")
    st.caption("Forgot your password? Ask your administrator to reset it.")
    if submitted:
        _sign_in(studio, st.session_state[SIGNIN_USERNAME], st.session_state[SIGNIN_PASSWORD])


def _text(value: object) -> str:
    """A request detail as text ("" where there is none, as under AppTest)."""
    return value if isinstance(value, str) else ""


def _sign_in(studio: Studio, raw_username: str, password: str) -> None:
    try:
        user = studio.accounts.sign_in(raw_username, password, client=_text(st.context.ip_address))
    except AkariError as exc:
        st.error(plain(exc.message))
        return
    started = studio.signins.start(user.id, _text(st.context.headers.get("User-Agent")))
    # A new session starts with nothing of the signed-out one (a fixation-proof, clean slate).
    st.session_state.clear()
    st.session_state[SESSION_ID] = started.id
    st.session_state[_TICKET] = started.ticket
    st.rerun()  # the navigation shows this person's pages; the next run delivers the cookie


def _first_run(accounts: Accounts) -> None:
    st.title("Welcome to Akari")
    _show_flash()
    st.write("No one can sign in yet. Create the administrator account: it manages users, sign-up and backends.")
    st.warning(
        "Until this is done, anyone who can open this page can create the administrator. On a shared server, "
        "create it from the command line instead: `python -m akari users add NAME --admin`",
        icon="⚠️",
    )
    with st.form("first_admin"):
        st.text_input("Username", key=FIRST_ADMIN_USERNAME, help=rules.USERNAME_RULE.capitalize() + ".")
        st.text_input("Your name", key=FIRST_ADMIN_NAME)
        st.text_input("Email (optional)", key=FIRST_ADMIN_EMAIL)
        st.text_input("Password", type="password", key=FIRST_ADMIN_PASSWORD, help=rules.PASSWORD_RULE,
                      autocomplete="new-password")
        st.text_input("Repeat the password", type="password", key=FIRST_ADMIN_REPEAT, autocomplete="new-password")
        submitted = st.form_submit_button("Create the administrator", key=FIRST_ADMIN_SUBMIT, type="primary")
    if not submitted:
        return
    state = st.session_state
    if state[FIRST_ADMIN_PASSWORD] != state[FIRST_ADMIN_REPEAT]:
        st.error("The two passwords differ.")
        return
    try:
        account = accounts.create_first_admin(state[FIRST_ADMIN_USERNAME], state[FIRST_ADMIN_PASSWORD],
                                              name=state[FIRST_ADMIN_NAME], email=state[FIRST_ADMIN_EMAIL])
    except AkariError as exc:
        st.error(plain(exc.message))
        return
    flash("success", "The administrator account is ready: sign in with it.")
    state[_PREFILL_USERNAME] = account.username
    st.rerun()


def _email_code_form(studio: Studio) -> None:
    """Step one of a registration by domain allowlist: a code sent to the address, to type below."""
    st.caption("Registration is open to the addresses and domains your administrator listed, once you prove the "
               "address is yours with a code sent to it.")
    with st.form("register_verify"):
        email = st.text_input("Email to verify", key=VERIFY_EMAIL, max_chars=254)
        send = st.form_submit_button("Send me a code", key=VERIFY_SEND)
    if send:
        try:
            st.info(studio.verification.send_code(email))
        except AkariError as exc:
            st.error(plain(exc.message))
    st.text_input("Code from the email", key=VERIFY_CODE, max_chars=6)


def _registration_form(studio: Studio, invitation: str | None = None, *, by_code: bool = False) -> None:
    # The library's form is given no accounts: whether a username or email is taken is the core's question alone,
    # asked only once a form is submitted.
    credentials: dict[str, Any] = {"usernames": {}}
    authenticator = stauth.Authenticate(
        credentials,
        "akari_registration",  # the library's own cookie is never set: the session cookie is the server's
        secrets.token_urlsafe(32),  # signs nothing that is ever used
        validator=AkariValidator(),
        auto_hash=False,
        login_sleep_time=0,
        password_instructions=rules.PASSWORD_RULE,
    )
    try:
        _email, username, _name = authenticator.register_user(
            location="main",
            pre_authorized=None,  # Akari's own rule is checked when saving
            domains=None,
            fields=REGISTER_FIELDS,
            captcha=False,
            roles=[MEMBER],
            password_hint=False,
            key=REGISTER_FORM,
        )
    except RegisterError as exc:
        st.error(plain(exc.message))
        return
    entry = credentials["usernames"].get(username or "")
    if not entry:
        return
    try:
        account = studio.accounts.register(
            username, name=f"{entry.get('first_name') or ''} {entry.get('last_name') or ''}".strip(),
            email=entry.get("email") or "", password_hash=entry.get("password") or "", invitation=invitation,
            email_code=(st.session_state.get(VERIFY_CODE) or "") if by_code else None)
    except AkariError as exc:
        st.error(plain(exc.message))
        return
    st.query_params.pop(INVITE_PARAM, None)
    flash("success", "Your account is ready: sign in with it.")
    st.session_state[_PREFILL_USERNAME] = account.username
    st.rerun()
