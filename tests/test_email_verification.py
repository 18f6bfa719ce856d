"""Registration by domain allowlist needs a one-time code sent by email (to a local SMTP server here); replies never
tell which addresses may register or already have an account."""

from __future__ import annotations

import re
from collections.abc import Iterator

import bcrypt
import pytest

from akari.accounts import Accounts
from akari.config import load_settings
from akari.db import migrate
from akari.db.engine import make_engine, make_session_factory
from akari.errors import AuthError
from akari.roles import ADMIN
from akari.verification import MAX_TRIES, SENT, EmailVerification
from tests.fakes.smtp_server import FakeSMTP

PASSWORD = "correct horse battery"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP(username="mailer", password="smtp-secret-42") as server:
        yield server


@pytest.fixture
def db(database_url: str, smtp: FakeSMTP, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Accounts,
                                                                                               EmailVerification]]:
    monkeypatch.setenv("AKARI_BCRYPT_ROUNDS", "4")
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    sessions = make_session_factory(engine)
    accounts = Accounts(sessions, bcrypt_rounds=4)
    accounts.create_user("root", PASSWORD, roles=(ADMIN,), email="root@allowed.com")
    accounts.set_registration("allowlist", ["@allowed.com"])
    yield accounts, EmailVerification(sessions, load_settings(env=smtp.env()).smtp)
    engine.dispose()


def _code(smtp: FakeSMTP, email: str) -> str:
    (mail,) = [m for m in smtp.received if m.recipients == [email]]
    return re.search(r"\b(\d{6})\b", mail.message["Subject"]).group(1)


def _register(accounts: Accounts, email: str, code: str | None, username: str = "ceo"):
    return accounts.register(username, name="", email=email, password_hash=HASH, email_code=code)


def test_a_self_asserted_email_at_an_allowed_domain_gets_no_account(db) -> None:
    accounts, _ = db
    with pytest.raises(AuthError, match="needs an invitation"):
        _register(accounts, "ceo@allowed.com", None)
    assert accounts.current_user("ceo") is None


def test_the_emailed_code_proves_the_address_once(db, smtp: FakeSMTP) -> None:
    accounts, verification = db
    assert verification.send_code("CEO@allowed.com") == SENT
    code = _code(smtp, "ceo@allowed.com")
    assert smtp.received[0].sender == "akari@example.net"  # logged in with the configured credentials
    with pytest.raises(AuthError, match="wrong or has expired"):
        _register(accounts, "ceo@allowed.com", "000000" if code != "000000" else "111111")
    assert _register(accounts, "ceo@allowed.com", code).email == "ceo@allowed.com"
    with pytest.raises(AuthError, match="wrong or has expired"):
        _register(accounts, "ceo@allowed.com", code, username="ceo2")


def test_the_reply_is_the_same_and_no_mail_goes_out_when_it_should_not(db, smtp: FakeSMTP) -> None:
    _, verification = db
    for email in ("eve@elsewhere.com", "root@allowed.com"):  # not allowed; already has an account
        assert verification.send_code(email) == SENT
    assert smtp.received == []


def test_a_code_dies_after_a_few_wrong_tries(db, smtp: FakeSMTP) -> None:
    accounts, verification = db
    verification.send_code("ceo@allowed.com")
    code = _code(smtp, "ceo@allowed.com")
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(MAX_TRIES):
        with pytest.raises(AuthError):
            _register(accounts, "ceo@allowed.com", wrong)
    with pytest.raises(AuthError, match="wrong or has expired"):
        _register(accounts, "ceo@allowed.com", code)


def test_without_smtp_no_code_is_ever_sent(db, smtp: FakeSMTP) -> None:
    accounts, _ = db
    assert EmailVerification(accounts.sessions, None).send_code("ceo@allowed.com") == SENT
    assert smtp.received == []


def test_the_registration_page_sends_the_code_and_accepts_it(smtp: FakeSMTP,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.ui_fixtures import app, open_accounts, reset_streamlit

    for name, value in smtp.env().items():
        monkeypatch.setenv(name, value)
    resetting = reset_streamlit(monkeypatch)
    next(resetting)
    opened = open_accounts()
    accounts = next(opened)
    accounts.create_user("root", PASSWORD, roles=(ADMIN,))
    accounts.set_registration("allowlist", ["@allowed.com"])
    at = app("pages/account.py").run()
    at.text_input(key="register_verify_email").input("ceo@allowed.com")
    at.button(key="register_send_code").click().run()
    assert not at.exception and SENT.split(" (")[0] in at.info[0].value.replace("\\", "")
    at.text_input(key="register_code").input(_code(smtp, "ceo@allowed.com"))
    fields = {t.label: t for t in at.text_input}
    for label, value in (("Your name", "Chief"), ("Your email", "ceo@allowed.com"), ("Choose a username", "ceo"),
                         ("Choose a password", PASSWORD), ("Repeat the chosen password", PASSWORD)):
        fields[label].input(value)
    next(b for b in at.button if b.label == "Create my account").click().run()
    assert not at.exception and accounts.current_user("ceo") is not None
    for generator in (opened, resetting):
        next(generator, None)
