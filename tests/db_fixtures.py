"""Database fixtures: every test gets a fresh SQLite file, and a fresh PostgreSQL schema where asked."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

POSTGRES_ADMIN_URL = os.environ.get("AKARI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def require_postgres(url: str = POSTGRES_ADMIN_URL) -> None:
    """Skip when the server is down, except under CI, where a missing server is a failure."""
    problem = _postgres_reachable(url)
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {url} is unreachable under CI: {problem}")
        pytest.skip(f"PostgreSQL is unreachable ({problem}); start it to run the PostgreSQL tests")


def _postgres_reachable(url: str = POSTGRES_ADMIN_URL) -> str | None:
    """None when the server answers, else the reason."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        return str(exc.orig).splitlines()[0] if exc.orig else str(exc)
    finally:
        engine.dispose()
    return None


def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections live in a fresh schema, dropped afterwards."""
    require_postgres()
    schema = f"akari_t_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'akari.db'}"
    else:
        yield from postgres_schema_url()
