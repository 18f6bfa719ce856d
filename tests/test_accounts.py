"""Accounts in the database: rules, passwords, throttling, the cookie key, registration, saving back, the CLI."""

from __future__ import annotations

import io
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import bcrypt
import pytest
from sqlalchemy import func, select

from akari import cli
from akari.accounts import (
    ADMIN,
    LOGIN_PAUSE,
    LOGIN_WINDOW,
    MEMBER,
    Accounts,
    Registration,
    check_password,
    check_username,
    cookie_key,
    cookie_key_problem,
    parse_allowlist,
    password_matches,
)
from akari.config import load_settings
from akari.db import migrate
from akari.db.engine import make_engine, make_session_factory
from akari.db.models import LoginFailure, User, utcnow
from akari.errors import AuthError, ConfigError, InvalidInput, NotFound, PermissionDenied
from akari.quota import Quotas

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKARI_BCRYPT_ROUNDS", "4")


@pytest.fixture
def accounts(database_url: str) -> Iterator[Accounts]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield Accounts(make_session_factory(engine), bcrypt_rounds=4)
    engine.dispose()


# -- rules -----------------------------------------------------------------------------------------------------------
def test_usernames_are_lower_cased_and_follow_the_rule() -> None:
    assert check_username("  Alice.B-2_ ") == "alice.b-2_"
    for bad in ("ab", "a" * 33, "al ice", "alice!", "élodie", ""):
        with pytest.raises(InvalidInput, match="3 to 32 characters"):
            check_username(bad)


def test_the_command_line_account_name_is_reserved() -> None:
    with pytest.raises(InvalidInput, match="reserved"):
        check_username("CLI")


def test_passphrases_are_welcome_and_short_passwords_are_explained() -> None:
    assert check_password("  correct horse battery staple  ") == "correct horse battery staple"
    with pytest.raises(InvalidInput, match="at least 10 characters"):
        check_password("Sh0rt!")
    with pytest.raises(InvalidInput, match="at most 72 bytes"):
        check_password("é" * 40)  # 40 characters, 80 bytes: bcrypt would refuse it
    with pytest.raises(InvalidInput, match="one character repeated"):
        check_password("aaaaaaaaaaaa")
    with pytest.raises(InvalidInput, match="not be the username"):
        check_password("alice12345", "Alice12345")


def test_allowlist_entries_are_emails_or_domains() -> None:
    assert parse_allowlist([" Ana@Example.com ", "", "@Example.org", "ana@example.com"]) == [
        "ana@example.com",
        "@example.org",
    ]
    with pytest.raises(InvalidInput, match=r"'example\.org' is neither"):
        parse_allowlist(["example.org"])
    with pytest.raises(InvalidInput, match="not a domain"):
        parse_allowlist(["@nodot"])


def test_registration_modes_decide_who_may_sign_up() -> None:
    invited = Registration("allowlist", ("ana@example.com", "@example.org"))
    assert invited.allows("Ana@Example.com", email_verified=True) and invited.allows("bo@example.org",
                                                                                     email_verified=True)
    assert not invited.allows("bo@example.com", email_verified=True)
    assert not invited.allows("eve@evil-example.org", email_verified=True)
    assert not invited.allows("ana@example.com")  # typed into a form, an email proves nothing
    assert Registration("open", ()).allows("anyone@anywhere.net")
    assert not Registration("closed", ("ana@example.com",)).allows("ana@example.com")


# -- accounts --------------------------------------------------------------------------------------------------------
def test_a_created_user_has_a_bcrypt_hash_that_checks(accounts: Accounts) -> None:
    account = accounts.create_user("Alice", PASSWORD, name="Alice A", email="Alice@Example.com")
    assert (account.username, account.email, account.roles, account.enabled) == (
        "alice", "alice@example.com", (MEMBER,), True)
    with accounts.sessions() as session:
        stored = session.scalar(select(User.password_hash).where(User.username == "alice"))
    assert stored.startswith("$2b$") and PASSWORD not in stored
    assert password_matches(PASSWORD, stored) and not password_matches("wrong password", stored)


def test_usernames_and_emails_are_unique(accounts: Accounts) -> None:
    accounts.create_user("alice", PASSWORD, email="a@example.com")
    with pytest.raises(AuthError, match="username or email address cannot be used"):
        accounts.create_user("ALICE", PASSWORD)
    with pytest.raises(AuthError, match="username or email address cannot be used"):
        accounts.create_user("alice2", PASSWORD, email="A@example.com")


def test_first_run_lasts_until_someone_can_sign_in(accounts: Accounts) -> None:
    assert accounts.is_first_run()
    with accounts.sessions.begin() as session:  # the command line's own account has no password
        session.add(User(username="cli", name="cli", roles=[MEMBER], password_hash=None))
    assert accounts.is_first_run()
    accounts.create_first_admin("root", PASSWORD)
    assert not accounts.is_first_run()
    with pytest.raises(AuthError, match="already exists"):
        accounts.create_first_admin("intruder", PASSWORD)


def test_current_user_follows_the_database_on_every_call(accounts: Accounts) -> None:
    accounts.create_user("root", PASSWORD, roles=(ADMIN,))
    accounts.create_user("bob", PASSWORD, roles=(ADMIN,))
    assert accounts.current_user("BOB").is_admin
    accounts.update("bob", enabled=True, roles=[MEMBER], daily_quota=None, acting="root")
    assert not accounts.current_user("bob").is_admin
    accounts.set_enabled("bob", False, acting="root")
    assert accounts.current_user("bob") is None
    assert accounts.current_user("nobody") is None and accounts.current_user(None) is None


def test_nobody_can_lock_the_studio_out_of_its_last_admin(accounts: Accounts) -> None:
    accounts.create_user("root", PASSWORD, roles=(ADMIN,))
    with pytest.raises(PermissionDenied, match="your own account"):
        accounts.set_enabled("root", False, acting="root")
    with pytest.raises(PermissionDenied, match="only administrator"):
        accounts.set_enabled("root", False)
    with pytest.raises(PermissionDenied, match="your own administrator role"):
        accounts.update("root", enabled=True, roles=[MEMBER], daily_quota=None, acting="root")
    accounts.create_user("second", PASSWORD, roles=(ADMIN,))
    accounts.update("root", enabled=False, roles=[MEMBER], daily_quota=5, acting="second")
    assert accounts.get("root").daily_quota == 5 and not accounts.get("root").enabled


def test_changing_ones_own_password_needs_the_current_one(accounts: Accounts) -> None:
    accounts.create_user("alice", PASSWORD)
    with pytest.raises(AuthError, match="current password is wrong"):
        accounts.change_password("alice", "not my password", "a brand new passphrase")
    with pytest.raises(InvalidInput, match="at least 10"):
        accounts.change_password("alice", PASSWORD, "short")
    with pytest.raises(InvalidInput, match="same as the current"):
        accounts.change_password("alice", PASSWORD, PASSWORD)
    accounts.change_password("alice", PASSWORD, "a brand new passphrase")
    assert _stored_hash(accounts, "alice").startswith("$2b$")
    assert password_matches("a brand new passphrase", _stored_hash(accounts, "alice"))


def test_an_admin_reset_lifts_the_sign_in_pause(accounts: Accounts) -> None:
    accounts.create_user("alice", PASSWORD)
    for _ in range(5):
        accounts.record_login_failure("alice")
    assert accounts.login_pause("alice")
    accounts.set_password("alice", "reset by the admin")
    assert accounts.login_pause("alice") is None
    with pytest.raises(NotFound, match="No account is named 'ghost'"):
        accounts.set_password("ghost", "whatever password")


def test_profile_and_quotas(accounts: Accounts) -> None:
    accounts.create_user("alice", PASSWORD)
    accounts.create_user("bob", PASSWORD, email="bob@example.com")
    updated = accounts.update_profile("alice", name="  Alice   Liddell ", email="alice@example.com")
    assert (updated.name, updated.email) == ("Alice Liddell", "alice@example.com")
    with pytest.raises(AuthError, match="Another account"):
        accounts.update_profile("alice", name="Alice", email="BOB@example.com")
    accounts.set_daily_quota("alice", 3)
    assert accounts.get("alice").daily_quota == 3
    with pytest.raises(InvalidInput):
        accounts.set_daily_quota("alice", -1)
    quotas = Quotas(accounts.sessions, 200)
    assert quotas.get_default() == 200
    quotas.set_default(50)
    assert quotas.get_default() == 50


# -- login throttling ------------------------------------------------------------------------------------------------
def test_five_failures_in_the_window_pause_that_username_only(accounts: Accounts) -> None:
    start = utcnow()
    for i in range(4):
        assert accounts.record_login_failure("Alice", start + timedelta(minutes=i)) is None
    pause = accounts.record_login_failure("alice", start + timedelta(minutes=4))
    assert pause == LOGIN_PAUSE
    assert accounts.login_pause("alice", start + timedelta(minutes=10)) == timedelta(minutes=9)
    assert accounts.login_pause("bob", start + timedelta(minutes=10)) is None


def test_the_pause_expires_so_nobody_is_locked_out_for_ever(accounts: Accounts) -> None:
    start = utcnow()
    for i in range(5):
        accounts.record_login_failure("alice", start + timedelta(seconds=i))
    assert accounts.login_pause("alice", start + LOGIN_PAUSE - timedelta(seconds=1))
    later = start + timedelta(seconds=4) + LOGIN_PAUSE
    assert accounts.login_pause("alice", later) is None
    # One more failure after the pause does not start another: the old burst is more than a window away.
    assert accounts.record_login_failure("alice", later + timedelta(minutes=2)) is None


def test_failures_spread_wider_than_the_window_do_not_pause(accounts: Accounts) -> None:
    start = utcnow()
    for i in range(5):
        pause = accounts.record_login_failure("alice", start + i * (LOGIN_WINDOW / 4 + timedelta(seconds=1)))
    assert pause is None


def test_old_failures_are_pruned_and_success_clears_them(accounts: Accounts) -> None:
    start = utcnow() - timedelta(hours=3)
    accounts.record_login_failure("alice", start)
    accounts.record_login_failure("bob", start)
    accounts.record_login_failure("carol", start + timedelta(hours=3))
    with accounts.sessions() as session:
        assert session.scalars(select(LoginFailure.username)).all() == ["carol"]
    accounts.clear_login_failures("Carol")
    with accounts.sessions() as session:
        assert session.scalar(select(func.count(LoginFailure.id))) == 0


# -- the cookie key --------------------------------------------------------------------------------------------------
def test_a_generated_cookie_key_is_private_and_reused(tmp_path: Path) -> None:
    settings = load_settings(env={}, akari_data_dir=str(tmp_path / "data"))
    first = cookie_key(settings)
    path = tmp_path / "data" / "cookie_key"
    assert len(first) >= 32 and first != "some_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert cookie_key(settings) == first


def test_processes_starting_together_agree_on_one_generated_key(tmp_path: Path) -> None:
    settings = load_settings(env={}, akari_data_dir=str(tmp_path))
    start = threading.Barrier(8)

    def racer() -> str:
        start.wait()
        return cookie_key(settings)

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: racer(), range(8)))
    assert keys == {(tmp_path / "cookie_key").read_text().strip()}
    assert [p.name for p in tmp_path.iterdir()] == ["cookie_key"]  # no temporary files left behind


def test_a_loose_or_broken_key_file_is_fixed(tmp_path: Path) -> None:
    settings = load_settings(env={}, akari_data_dir=str(tmp_path))
    path = tmp_path / "cookie_key"
    path.write_text("k" * 40 + "\n")
    path.chmod(0o644)
    assert cookie_key(settings) == "k" * 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("")  # a crash while writing
    fresh = cookie_key(settings)
    assert len(fresh) >= 32 and path.read_text().strip() == fresh
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


STRONG_KEY = "Vq3xL9pZ2mK8rT5wN1bY7cF4hJ6dS0gA_-eU"


def test_a_configured_cookie_key_wins(tmp_path: Path) -> None:
    settings = load_settings(env={"AKARI_COOKIE_KEY": STRONG_KEY}, akari_data_dir=str(tmp_path))
    assert cookie_key(settings) == STRONG_KEY
    assert not (tmp_path / "cookie_key").exists()


@pytest.mark.parametrize(("weak", "why"), [("some_key", "only 8 characters"), ("a" * 32, "only 1 different"),
                                           ("some_key" * 4, "only 7 different"),
                                           ("abcdefghijklmnopq" * 2, "one short pattern repeated")])
def test_a_weak_cookie_key_is_refused_with_the_generator_hint(tmp_path: Path, weak: str, why: str) -> None:
    settings = load_settings(env={"AKARI_COOKIE_KEY": weak}, akari_data_dir=str(tmp_path))
    with pytest.raises(ConfigError, match=why) as refused:
        cookie_key(settings)
    assert 'python -c "import secrets; print(secrets.token_urlsafe(48))"' in refused.value.message
    assert weak not in refused.value.message and weak not in refused.value.log_line()


def test_random_keys_pass_the_strength_check() -> None:
    import secrets

    assert all(cookie_key_problem(secrets.token_urlsafe(48)) is None for _ in range(200))


def test_bcrypt_rounds_are_a_setting_checked_at_start_up() -> None:
    with pytest.raises(ConfigError, match="AKARI_BCRYPT_ROUNDS"):
        load_settings(env={"AKARI_BCRYPT_ROUNDS": "3"})
    assert load_settings(env={}).bcrypt_rounds == 12
    assert load_settings(env={"AKARI_BCRYPT_ROUNDS": "5"}).bcrypt_rounds == 5


# -- credentials for the authenticator and saving back ---------------------------------------------------------------
def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def _register(accounts: Accounts, username: str, email: str):
    """What the sign-in page does with the library's registration form."""
    return accounts.register(username, name="New Person", email=email, password_hash=_hash(PASSWORD))


def _stored_hash(accounts: Accounts, username: str) -> str:
    with accounts.sessions() as session:
        return session.scalar(select(User.password_hash).where(User.username == username))


def test_registration_is_refused_while_registration_is_closed(accounts: Accounts) -> None:
    with pytest.raises(AuthError, match="needs an invitation"):
        _register(accounts, "newbie", "newbie@example.com")
    assert accounts.current_user("newbie") is None


def test_open_registration_saves_a_member(accounts: Accounts) -> None:
    accounts.set_registration("open")
    _register(accounts, "newbie", "newbie@example.com")
    user = accounts.current_user("newbie")
    assert user is not None and user.roles == (MEMBER,) and user.name == "New Person"


def test_a_registration_must_bring_a_bcrypt_hash(accounts: Accounts) -> None:
    accounts.set_registration("open")
    with pytest.raises(AuthError, match="could not be saved"):
        accounts.register("newbie", name="", email="newbie@example.com", password_hash=PASSWORD)


def test_a_self_asserted_email_at_an_allowed_domain_gets_no_account(accounts: Accounts) -> None:
    accounts.set_registration("allowlist", ["ana@example.com", "@allowed.com"])
    for username, email in (("ana", "ana@example.com"), ("ceo", "ceo@allowed.com")):
        with pytest.raises(AuthError, match="needs an invitation"):
            _register(accounts, username, email)
        assert accounts.current_user(username) is None
    with pytest.raises(InvalidInput, match="at least one"):
        accounts.set_registration("allowlist", [])
    assert accounts.registration() == Registration("allowlist", ("ana@example.com", "@allowed.com"))


def test_a_registration_cannot_take_a_disabled_users_name(accounts: Accounts) -> None:
    accounts.set_registration("open")
    accounts.create_user("root", PASSWORD, roles=(ADMIN,))
    accounts.create_user("alice", PASSWORD)
    accounts.set_enabled("alice", False)
    with pytest.raises(AuthError, match="cannot be used") as refused:
        _register(accounts, "alice", "other@example.com")
    assert "taken" not in refused.value.message  # the same words whichever of the two is in use


# -- the command line ------------------------------------------------------------------------------------------------
def _cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str,
         stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _cli_accounts() -> Iterator[Accounts]:
    engine = make_engine(load_settings().database_url)
    try:
        yield Accounts(make_session_factory(engine), bcrypt_rounds=4)
    finally:
        engine.dispose()


def test_cli_adds_users_with_the_password_from_stdin(monkeypatch, capsys) -> None:
    code, out, _ = _cli(monkeypatch, capsys, "users", "add", "Root", "--admin", "--name", "Ada", stdin=PASSWORD + "\n")
    assert code == 0 and "Created administrator 'root'" in out
    code, _, err = _cli(monkeypatch, capsys, "users", "add", "bob", stdin="short\n")
    assert code == 1 and "at least 10 characters" in err
    code, _, err = _cli(monkeypatch, capsys, "users", "add", "bob", stdin="")
    assert code == 1 and "No password was given" in err
    code, out, _ = _cli(monkeypatch, capsys, "users", "list")
    assert code == 0 and "root" in out and "administrator" in out and "bob" not in out
    for accounts in _cli_accounts():
        user = accounts.current_user("root")
        assert user is not None and user.is_admin and user.name == "Ada"


def test_cli_never_takes_a_password_argument(monkeypatch, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _cli(monkeypatch, capsys, "users", "add", "bob", "--password", PASSWORD)
    assert exit_info.value.code == 2


def test_cli_resets_a_password_and_disables_and_enables(monkeypatch, capsys) -> None:
    _cli(monkeypatch, capsys, "users", "add", "root", "--admin", stdin=PASSWORD + "\n")
    _cli(monkeypatch, capsys, "users", "add", "bob", stdin=PASSWORD + "\n")
    code, out, _ = _cli(monkeypatch, capsys, "users", "reset-password", "BOB", stdin="a new long passphrase\r\n")
    assert code == 0 and "Password of 'bob' changed" in out
    code, out, _ = _cli(monkeypatch, capsys, "users", "disable", "bob")
    assert code == 0 and "disabled" in out
    for accounts in _cli_accounts():
        assert accounts.current_user("bob") is None
    code, _, _ = _cli(monkeypatch, capsys, "users", "enable", "bob")
    for accounts in _cli_accounts():
        assert accounts.current_user("bob") is not None
        assert password_matches("a new long passphrase", _stored_hash(accounts, "bob"))
    code, _, err = _cli(monkeypatch, capsys, "users", "reset-password", "ghost", stdin=PASSWORD + "\n")
    assert code == 1 and "No account is named 'ghost'" in err


def test_cli_signs_out_and_deletes_accounts_and_their_sessions(monkeypatch, capsys) -> None:
    from akari.signins import SignIns

    _cli(monkeypatch, capsys, "users", "add", "root", "--admin", stdin=PASSWORD + "\n")
    _cli(monkeypatch, capsys, "users", "add", "bob", stdin=PASSWORD + "\n")
    for accounts in _cli_accounts():
        signins = SignIns(accounts.sessions)
        first = signins.start(accounts.get("bob").id).id
    code, out, _ = _cli(monkeypatch, capsys, "users", "sign-out", "BOB")
    assert code == 0 and "signed out everywhere" in out
    for accounts in _cli_accounts():
        signins = SignIns(accounts.sessions)
        assert signins.user(first) is None
        second = signins.start(accounts.get("bob").id).id
    code, out, _ = _cli(monkeypatch, capsys, "users", "delete", "bob")
    assert code == 0 and "deleted" in out
    for accounts in _cli_accounts():
        assert SignIns(accounts.sessions).user(second) is None
        with pytest.raises(NotFound):
            accounts.get("bob")
    code, _, err = _cli(monkeypatch, capsys, "users", "delete", "root")
    assert code == 1 and "only administrator" in err and "Traceback" not in err
