"""The Account page's API tokens and the Admin page's API switch, through Streamlit's AppTest."""

from __future__ import annotations

import re

from akari.accounts import Accounts
from akari.api_access import api_enabled
from akari.tokens import Tokens
from tests.ui_fixtures import accounts, add_user, app, fresh_streamlit, sign_in  # noqa: F401 (fixtures)


def _plain(elements) -> list[str]:
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def test_a_token_made_on_the_account_page_is_shown_once_listed_and_revocable(accounts: Accounts) -> None:  # noqa: F811
    add_user(accounts, "alice")
    tokens = Tokens(accounts.sessions)
    at = sign_in(app("pages/account.py").run(), "alice")
    at.button(key="tokens_create").click().run()
    assert any("Give the token a name" in text for text in _plain(at.error))
    at.text_input(key="tokens_name").input("nightly script")
    at.selectbox(key="tokens_expiry").select("30 days")
    at.button(key="tokens_create").click().run()
    secret = at.code[0].value
    assert secret.startswith("akari_")
    alice = accounts.get("alice")
    assert tokens.authenticate(secret, "127.0.0.1").id == alice.id
    listed = at.dataframe[0].value
    assert list(listed["Name"]) == ["nightly script"] and secret not in listed.to_string()
    assert not at.expander  # everyone's tokens are for administrators
    at.run()
    assert not at.code  # shown only once
    at.button(key="tokens_revoke").click().run()
    assert _plain(at.success)[0].endswith("is revoked: its next call fails.")
    assert tokens.list(None, alice.id)[0].state() == "revoked"


def test_an_admin_sees_and_revokes_everyones_tokens_and_switches_the_api(accounts: Accounts) -> None:  # noqa: F811
    add_user(accounts, "bob")
    add_user(accounts, "root", admin=True)
    tokens = Tokens(accounts.sessions)
    bob = accounts.get("bob")
    made = tokens.create(None, bob.id, "bob's bot")
    at = sign_in(app("pages/account.py").run(), "root")
    assert not at.exception, at.exception
    assert "bob" in at.dataframe[-1].value["Owner"].tolist(), (at.error, at.main)
    at.button(key="tokens_admin_revoke").click().run()
    assert tokens.list(None, bob.id)[0].state() == "revoked" and made.info.id
    admin = sign_in(app("pages/admin.py").run(), "root")
    admin.session_state["admin_tab"] = "Backends"  # the switch lives on that tab, which runs only when open
    admin.run()
    admin.toggle(key="api_enabled_toggle").set_value(False).run()
    assert api_enabled(accounts.sessions) is False
    assert "The HTTP API is off." in _plain(admin.success)
