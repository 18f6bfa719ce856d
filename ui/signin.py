"""The sign-in screen: the sign-in form, the first-run administrator form and self-registration."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
import streamlit as st
import streamlit_authenticator as stauth
from starlette.requests import Request
from streamlit.errors import StreamlitDuplicateElementKey
from streamlit_authenticator.utilities import LoginError, RegisterError

from akari import accounts as rules
from akari import runtime
from akari.accounts import MAX_PASSWORD_BYTES, Accounts, CurrentUser, cookie_key, snapshot
from akari.errors import AkariError
from akari.roles import MEMBER
from akari.studio import Studio
from ui.context import get_studio
from ui.text import plain

COOKIE_NAME = "akari_signin"
COOKIE_EXPIRY_DAYS = 14.0

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

_SERVICE = "_akari_sign_in_service"  # the authenticator made in this run
_FLASH = "_akari_flash"  # (kind, message) shown once on the next sign-in screen
_PREFILL_USERNAME = "_akari_prefill_username"  # a username just created, for the next sign-in form


@dataclass
class SignInService:
    """The authenticator and the credentials it was given this run, with a copy to diff against."""

    authenticator: stauth.Authenticate
    credentials: dict[str, Any]
    before: dict[str, Any]
    accounts: Accounts

    def save_changes(self) -> list[str]:
        """Write back what the library's widgets changed in its dict (a registration); returns the usernames."""
        changed = self.accounts.save_credentials(self.before, self.credentials)
        self.before = snapshot(self.credentials)
        return changed


class AkariValidator(stauth.Validator):
    """The library's checks, with Akari's rules: passphrases allowed, usernames as everywhere else in the app."""

    def validate_username(self, username: str) -> bool:
        return rules.username_problem(username) is None

    def validate_password(self, password: str) -> bool:
        return not rules.password_problems(password)

    def diagnose_password(self, password: str) -> str:
        return " ".join(rules.password_problems(password))

    def validate_name(self, name: str) -> bool:
        # Called for the first and the last name; the last is optional, an empty name falls back to the username.
        try:
            rules.check_name(name, "")
        except AkariError:
            return False
        return True


def _configured_cookie_key() -> str | None:
    """cookie_key from .streamlit/secrets.toml, if there is such a file."""
    if not st.secrets.load_if_toml_exists():
        return None
    value = st.secrets.get("cookie_key")
    return str(value) if value else None


@st.cache_resource(show_spinner=False)
def _cookie_key() -> str:
    return cookie_key(get_studio().settings, _configured_cookie_key())


def viewer_from_request(request: Request) -> CurrentUser | None:
    """Who sent an HTTP request to one of the app's routes, from the sign-in cookie; None when nobody valid."""
    token = request.cookies.get(COOKIE_NAME)
    if not token:
        return None
    try:
        studio = runtime.open_studio()
        claims = jwt.decode(token, cookie_key(studio.settings, _configured_cookie_key()), algorithms=["HS256"])
    except (jwt.PyJWTError, AkariError):
        return None
    if not isinstance(claims, dict) or float(claims.get("exp_date") or 0) < time.time():
        return None
    return studio.accounts.current_user(str(claims.get("username") or ""))


def sign_in_service(studio: Studio | None = None) -> SignInService:
    """The authenticator for this run, made at most once per run.

    Its cookie widget has a fixed key, so a second one in the same run raises StreamlitDuplicateElementKey:
    that exception is the run-scoped marker saying that the one kept in session state is this run's.
    """
    studio = studio or get_studio()
    credentials = studio.accounts.load_credentials()
    try:
        authenticator = stauth.Authenticate(
            credentials,
            COOKIE_NAME,
            _cookie_key(),
            COOKIE_EXPIRY_DAYS,
            validator=AkariValidator(),
            auto_hash=False,  # the database holds bcrypt hashes only
            login_sleep_time=0,  # throttling is ours (per username, in the database), not a fixed sleep
            password_instructions=rules.PASSWORD_RULE,
        )
    except StreamlitDuplicateElementKey:
        return st.session_state[_SERVICE]
    service = SignInService(authenticator, credentials, snapshot(credentials), studio.accounts)
    st.session_state[_SERVICE] = service
    return service


def flash(kind: str, message: str) -> None:
    """A message for the sign-in screen of the next run (kind: success, info, warning or error)."""
    st.session_state[_FLASH] = (kind, message)


def _show_flash() -> None:
    # Kept, not popped: the cookie component's reply reruns the sign-in screen a moment after a sign-out, and the
    # message must still be there. It goes once someone signs in.
    kind, message = st.session_state.get(_FLASH, (None, None))
    if kind in ("success", "info", "warning", "error") and message:
        getattr(st, kind)(message)


def _minutes(pause: timedelta) -> int:
    return max(1, math.ceil(pause.total_seconds() / 60))


def sign_in_screen(service: SignInService) -> CurrentUser:
    """The first-run form, or sign-in (and registration when open). Returns the user who just signed in in this run;
    otherwise stops the script, so nothing of the page below is ever shown to a visitor."""
    st.set_page_config(page_title="Sign in · Akari")
    if service.accounts.is_first_run():
        _first_run(service.accounts)
        st.stop()
    _, middle, _ = st.columns([1, 2, 1])  # a form, not a page: keep it to a readable width
    screen = middle.empty()
    user = None
    with screen.container():
        st.title("Akari")
        _show_flash()
        registration = service.accounts.registration()
        if registration.mode == "closed":
            user = _sign_in_form(service)
        else:
            sign_in_tab, register_tab = st.tabs(["Sign in", "Create an account"], key="signin_tab")
            with sign_in_tab:
                user = _sign_in_form(service)
            with register_tab:
                if registration.mode == "allowlist":
                    st.caption("Registration is open to invited email addresses and domains.")
                _registration_form(service)
    if user is None:
        st.stop()
    st.session_state.pop(_FLASH, None)
    # Signed in during this run: the page renders below. The cookie widget goes outside the emptied screen (or it
    # would never reach the browser); once it has set the cookie its reply reruns the app, now with the menu.
    screen.empty()
    service.authenticator.cookie_controller.set_cookie()
    return user


def _sign_in_form(service: SignInService) -> CurrentUser | None:
    if _PREFILL_USERNAME in st.session_state:
        st.session_state[SIGNIN_USERNAME] = st.session_state.pop(_PREFILL_USERNAME)
    with st.form("signin"):
        st.text_input("Username", key=SIGNIN_USERNAME, autocomplete="username")
        st.text_input("Password", type="password", key=SIGNIN_PASSWORD, autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", key=SIGNIN_SUBMIT, type="primary")
    st.caption("Forgot your password? Ask your administrator to reset it.")
    if not submitted:
        return None
    return _sign_in(service, st.session_state[SIGNIN_USERNAME], st.session_state[SIGNIN_PASSWORD])


def _sign_in(service: SignInService, raw_username: str, password: str) -> CurrentUser | None:
    accounts = service.accounts
    username = rules.normalise_username(raw_username)
    if not username or not password:
        st.error("Enter your username and your password.")
        return None
    pause = accounts.login_pause(username)
    if pause:
        # Refused before the password is even looked at, and not counted: the pause cannot be stretched.
        st.error(f"Too many failed sign-ins for this username. Try again in {_minutes(pause)} minutes.")
        return None
    # The library's form has no widget keys and counts failures without a time window, so the form is ours and
    # the library does the rest: check the hash, fill the session, sign the cookie.
    controller = service.authenticator.authentication_controller
    try:
        # bcrypt 5 refuses passwords over 72 bytes; none can match a stored one, so it is a plain failure.
        ok = len(password.strip().encode()) <= MAX_PASSWORD_BYTES and controller.login(username, password)
    except LoginError as exc:
        st.error(plain(exc.message))
        return None
    if not ok:
        pause = accounts.record_login_failure(username)
        message = "Wrong username or password."
        if pause:
            message += f" Sign-in for this username is paused for {_minutes(pause)} minutes."
        st.error(message)
        return None
    accounts.clear_login_failures(username)
    user = accounts.current_user(username)
    if user is None:  # disabled between loading the credentials and now
        service.authenticator.logout(location="unrendered")
        st.error("Wrong username or password.")
        return None
    return user


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


def _registration_form(service: SignInService) -> None:
    try:
        _email, username, _name = service.authenticator.register_user(
            location="main",
            pre_authorized=None,  # Akari's own rule (emails *or* domains) is checked when saving
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
    if not username:
        return
    try:
        service.save_changes()
    except AkariError as exc:
        st.error(plain(exc.message))
        return
    flash("success", "Your account is ready: sign in with it.")
    st.session_state[_PREFILL_USERNAME] = username
    st.rerun()
