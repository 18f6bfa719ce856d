"""Sign-in limits under bursts, raced for real: threads released by a barrier, and two processes at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from akari import accounts as accounts_module
from akari.accounts import LOGIN_FAILURE_LIMIT, Accounts
from akari.db import migrate
from akari.db.engine import make_engine, make_session_factory
from akari.db.models import User
from akari.errors import AkariError, AuthError
from akari.roles import is_admin

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery"
STRANGER, OWNER = "203.0.113.9", "198.51.100.7"


@pytest.fixture(autouse=True)
def _fast_bcrypt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKARI_BCRYPT_ROUNDS", "4")


@pytest.fixture
def accounts(database_url: str) -> Iterator[Accounts]:
    engine = make_engine(database_url, connections=40)
    migrate.upgrade(engine)
    yield Accounts(make_session_factory(engine), bcrypt_rounds=4)
    engine.dispose()


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Every password check made in this process (the hash it was checked against)."""
    made: list[str | None] = []
    real = accounts_module.password_matches

    def counting(password: str, password_hash: str | None) -> bool:
        made.append(password_hash)
        return real(password, password_hash)

    monkeypatch.setattr(accounts_module, "password_matches", counting)
    return made


def _together(count: int, work) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except AkariError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_thirty_parallel_guesses_check_at_most_five_passwords(accounts: Accounts, checks: list) -> None:
    accounts.create_user("alice", PASSWORD)
    results = _together(30, lambda i: accounts.sign_in("alice", f"guess {i}", client=STRANGER))
    assert len(checks) <= LOGIN_FAILURE_LIMIT and all(isinstance(r, AuthError) for r in results)
    with pytest.raises(AuthError, match="Too many failed sign-ins"):  # even the right guess now waits, unchecked
        accounts.sign_in("alice", PASSWORD, client=STRANGER)
    assert len(checks) <= LOGIN_FAILURE_LIMIT


def test_thirty_parallel_guesses_in_two_processes_check_at_most_five(accounts: Accounts, database_url: str,
                                                                      tmp_path: Path) -> None:
    accounts.create_user("alice", PASSWORD)
    go = tmp_path / "go"
    env = {**os.environ, "AKARI_DATABASE_URL": database_url, "AKARI_BCRYPT_ROUNDS": "4"}
    processes = [subprocess.Popen([sys.executable, "-m", "tests.signin_harness", "alice", "a wrong guess", "15",
                                   "--go", str(go)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
                 for _ in range(2)]
    go.touch()
    reports = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in processes]
    assert all(p.returncode == 0 for p in processes)
    assert sum(r["checks"] for r in reports) <= LOGIN_FAILURE_LIMIT
    assert sum(r["refused"] for r in reports) == 30


def test_a_stranger_cannot_pause_the_owner(accounts: Accounts) -> None:
    accounts.create_user("alice", PASSWORD)
    for i in range(LOGIN_FAILURE_LIMIT):
        with pytest.raises(AuthError):
            accounts.sign_in("alice", f"guess {i}", client=STRANGER)
    with pytest.raises(AuthError, match="Too many failed sign-ins"):
        accounts.sign_in("alice", PASSWORD, client=STRANGER)
    assert accounts.sign_in("alice", PASSWORD, client=OWNER).username == "alice"
    with pytest.raises(AuthError, match="Too many failed sign-ins"):  # the owner's success lifts nothing for them
        accounts.sign_in("alice", PASSWORD, client=STRANGER)


def test_an_unknown_username_costs_one_bcrypt_check_at_the_same_cost(accounts: Accounts, checks: list) -> None:
    accounts.create_user("alice", PASSWORD)
    with pytest.raises(AuthError, match="Wrong username or password"):
        accounts.sign_in("nobody", PASSWORD)
    with pytest.raises(AuthError, match="Wrong username or password"):
        accounts.sign_in("alice", "a wrong guess")
    unknown, known = checks
    assert unknown and known and unknown != known
    assert unknown.split("$")[2] == known.split("$")[2] == f"{accounts.bcrypt_rounds:02d}"


def test_eight_parallel_first_admin_forms_make_one_administrator(accounts: Accounts) -> None:
    results = _together(8, lambda i: accounts.create_first_admin(f"admin{i}", PASSWORD))
    made = [r for r in results if not isinstance(r, Exception)]
    assert len(made) == 1
    assert all(isinstance(r, AuthError) and "already exists" in r.message for r in results if r not in made)
    with accounts.sessions() as session:
        assert session.scalar(select(func.count(User.id))) == 1
        assert is_admin(session.scalar(select(User.roles)))
