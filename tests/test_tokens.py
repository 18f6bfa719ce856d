"""Personal API tokens: shown once, stored as a hash, refused at once when revoked, expired or disabled; rate limits."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, update

from akari.db import migrate
from akari.db.engine import make_engine
from akari.db.models import ApiToken, User, utcnow
from akari.errors import InvalidInput, NotFound, PermissionDenied, RateLimited, Unauthenticated
from akari.studio import Studio
from akari.tokens import MAX_FAILED_PER_MINUTE, Tokens, token_hash
from tests import gallery_data
from tests.gallery_data import add_user
from tests.test_cli import run_cli

postgres_database = gallery_data.postgres_database
database_url = gallery_data.database_url
studio = gallery_data.studio


def test_a_token_is_shown_once_and_only_its_hash_is_stored(studio: Studio) -> None:
    ada = add_user(studio, "ada")
    made = studio.tokens.create(ada, ada.id, "nightly script", expires_days=30)
    assert made.token.startswith("akari_") and len(made.token) > 40
    with studio.sessions() as session:
        row = session.scalars(select(ApiToken)).one()
    stored = {str(getattr(row, c.key)) for c in ApiToken.__table__.columns}
    assert made.token not in stored and row.token_hash == token_hash(made.token)
    assert all(made.token not in str(value) for value in made.info.__dict__.values())
    caller = studio.tokens.authenticate(made.token, "10.0.0.1")
    assert (caller.id, caller.user.username, caller.token_id) == (ada.id, "ada", made.info.id)
    assert studio.tokens.list(ada, ada.id)[0].last_used_at is not None


def test_a_revoked_token_fails_on_its_next_call(studio: Studio) -> None:
    ada = add_user(studio, "ada")
    made = studio.tokens.create(ada, ada.id, "bot")
    studio.tokens.authenticate(made.token, "10.0.0.1")
    studio.tokens.revoke(ada, made.info.id)
    with pytest.raises(Unauthenticated):
        studio.tokens.authenticate(made.token, "10.0.0.1")
    assert studio.tokens.list(ada, ada.id)[0].state() == "revoked"


def test_an_expired_token_and_an_unknown_one_are_refused(studio: Studio) -> None:
    ada = add_user(studio, "ada")
    made = studio.tokens.create(ada, ada.id, "bot", expires_days=1)
    with studio.sessions.begin() as session:
        session.execute(update(ApiToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    for token in (made.token, "akari_not-a-real-token", "Bearer nonsense"):
        with pytest.raises(Unauthenticated):
            studio.tokens.authenticate(token, "10.0.0.2")


def test_a_disabled_or_deleted_account_is_refused_at_once(studio: Studio) -> None:
    ada, bob = add_user(studio, "ada"), add_user(studio, "bob")
    ada_token = studio.tokens.create(ada, ada.id, "bot").token
    bob_token = studio.tokens.create(bob, bob.id, "bot").token
    studio.tokens.authenticate(ada_token, "10.0.0.3")
    with studio.sessions.begin() as session:
        session.execute(update(User).where(User.id == ada.id).values(enabled=False))
        session.delete(session.get(User, bob.id))
    with pytest.raises(PermissionDenied) as disabled:
        studio.tokens.authenticate(ada_token, "10.0.0.3")
    assert disabled.value.reason == "account_disabled"
    with pytest.raises(Unauthenticated):
        studio.tokens.authenticate(bob_token, "10.0.0.3")


def test_members_manage_their_own_tokens_and_admins_anyones(studio: Studio) -> None:
    ada, bob, root = add_user(studio, "ada"), add_user(studio, "bob"), add_user(studio, "root", admin=True)
    ada_token = studio.tokens.create(ada, ada.id, "mine")
    with pytest.raises(PermissionDenied):
        studio.tokens.create(bob, ada.id, "for ada")
    with pytest.raises(PermissionDenied):
        studio.tokens.list(bob, ada.id)
    with pytest.raises(PermissionDenied):
        studio.tokens.list(bob)
    with pytest.raises(NotFound):  # another member's token does not exist, as far as bob can tell
        studio.tokens.revoke(bob, ada_token.info.id)
    studio.tokens.authenticate(ada_token.token, "10.0.0.4")
    studio.tokens.create(root, bob.id, "made by the admin")
    assert [t.username for t in studio.tokens.list(root)] == ["bob", "ada"]
    studio.tokens.revoke(root, ada_token.info.id)
    with pytest.raises(Unauthenticated):
        studio.tokens.authenticate(ada_token.token, "10.0.0.4")


@pytest.mark.parametrize(("name", "days"), [("", None), ("x" * 65, None), ("ok", 0), ("ok", 3651), ("ok", True)])
def test_bad_names_and_expiries_change_nothing(studio: Studio, name: str, days: object) -> None:
    ada = add_user(studio, "ada")
    with pytest.raises(InvalidInput):
        studio.tokens.create(ada, ada.id, name, days)  # type: ignore[arg-type]
    assert studio.tokens.list(ada, ada.id) == []


def test_failed_attempts_are_throttled_per_client_address(studio: Studio) -> None:
    ada = add_user(studio, "ada")
    good = studio.tokens.create(ada, ada.id, "bot").token
    for _ in range(MAX_FAILED_PER_MINUTE):
        with pytest.raises(Unauthenticated):
            studio.tokens.authenticate("akari_guess", "10.9.9.9")
    with pytest.raises(RateLimited) as paused:
        studio.tokens.authenticate(good, "10.9.9.9")  # even a good token waits: the address is paused
    assert paused.value.reason == "too_many_failures" and 1 <= paused.value.retry_after <= 60
    assert f"Try again in {paused.value.retry_after} second" in paused.value.message  # the same wait, in words
    assert studio.tokens.authenticate(good, "10.1.1.1").id == ada.id  # another address is not


def test_the_rate_limit_per_token_holds_under_parallel_calls_from_two_studios(studio: Studio,
                                                                               tmp_path: Path) -> None:
    ada = add_user(studio, "ada")
    token = studio.tokens.create(ada, ada.id, "bot").token
    # A second, independent set of connections stands in for another process on the same database.
    other = Tokens(Studio.open(studio.settings, run_migrations=False).sessions, rate_per_minute=10)
    mine = Tokens(studio.sessions, rate_per_minute=10)
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def call(tokens: Tokens) -> None:
        barrier.wait()
        try:
            tokens.authenticate(token, "10.0.0.5")
            outcomes.append("ok")
        except RateLimited:
            outcomes.append("limited")

    threads = [threading.Thread(target=call, args=(mine if i % 2 else other,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.sessions.kw["bind"].dispose()
    assert sorted(outcomes) == ["limited"] * 10 + ["ok"] * 10


def test_the_command_line_creates_lists_and_revokes_tokens(tmp_path: Path) -> None:
    env = {"AKARI_DATA_DIR": str(tmp_path / "data")}
    assert run_cli("users", "add", "ada", env=env, stdin="a long enough password\n").returncode == 0
    created = run_cli("tokens", "create", "ada", "--name", "ci job", "--expires-days", "7", env=env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("akari_") and " " not in token
    listed = run_cli("tokens", "list", "ada", env=env)
    assert "ci job" in listed.stdout and "active" in listed.stdout and token not in listed.stdout
    revoked = run_cli("tokens", "revoke", "1", env=env)
    assert revoked.returncode == 0 and "revoked" in revoked.stdout
    assert "revoked" in run_cli("tokens", "list", env=env).stdout
    missing = run_cli("tokens", "create", "nobody", env=env)
    assert missing.returncode == 1 and "No account is named 'nobody'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_api_migration_goes_down_and_up_again(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        assert {"api_tokens", "api_hits"} <= set(inspect(engine).get_table_names())
        migrate.downgrade(engine, "0003")
        assert not {"api_tokens", "api_hits"} & set(inspect(engine).get_table_names())
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
