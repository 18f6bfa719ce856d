"""Traps a new user fell into: each fixed, each with the rule it now keeps (the browser suite checks them too)."""

from __future__ import annotations

import re

from akari.accounts import Accounts
from tests.ui_fixtures import (  # noqa: F401  (fixtures)
    PASSWORD,
    accounts,
    add_user,
    app,
    fresh_streamlit,
    seed_session,
    sign_in,
)


def _texts(elements) -> list[str]:
    return [re.sub(r"\\(.)", r"\1", e.value) for e in elements]


def _admin_page(accounts: Accounts):  # noqa: F811
    add_user(accounts, "root", admin=True)
    at = app("pages/admin.py").run()
    return sign_in(at, "root")


def test_a_typo_in_add_user_keeps_every_field_but_the_passwords(accounts: Accounts) -> None:  # noqa: F811
    at = _admin_page(accounts)
    at.text_input(key="admin_new_username").input("carol")
    at.text_input(key="admin_new_name").input("Carol Carter")
    at.text_input(key="admin_new_email").input("carol@example.com")
    at.text_input(key="admin_new_password").input(PASSWORD)
    at.text_input(key="admin_new_repeat").input(PASSWORD + "x")
    at.button(key="admin_new_submit").click().run()
    assert "The two passwords differ" in " ".join(_texts(at.error))
    assert at.text_input(key="admin_new_username").value == "carol"
    assert at.text_input(key="admin_new_name").value == "Carol Carter"
    assert at.text_input(key="admin_new_email").value == "carol@example.com"
    assert at.text_input(key="admin_new_password").value == "" and at.text_input(key="admin_new_repeat").value == ""
    assert [a.username for a in accounts.list()] == ["root"]

    at.text_input(key="admin_new_username").input("Bad Name!")
    at.text_input(key="admin_new_password").input(PASSWORD)
    at.text_input(key="admin_new_repeat").input(PASSWORD)
    at.button(key="admin_new_submit").click().run()
    assert at.error and at.text_input(key="admin_new_name").value == "Carol Carter"

    at.text_input(key="admin_new_username").input("carol")
    at.text_input(key="admin_new_password").input(PASSWORD)
    at.text_input(key="admin_new_repeat").input(PASSWORD)
    at.button(key="admin_new_submit").click().run()
    assert _texts(at.success) == ["Created the account carol."]
    assert at.text_input(key="admin_new_username").value == "" and at.text_input(key="admin_new_name").value == ""
    assert accounts.get("carol").name == "Carol Carter"


def test_a_member_opening_admin_reads_why_it_is_closed(accounts: Accounts) -> None:  # noqa: F811
    add_user(accounts, "bea")
    at = app("app.py")
    seed_session(at, "bea")
    at.run()
    at.switch_page("pages/admin.py").run()
    assert not at.exception
    assert "Only administrators can open this page" in " ".join(_texts(at.error))
    assert not at.get("tabs") or all("Users" not in t.label for t in at.tabs)
