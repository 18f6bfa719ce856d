"""Fixtures for gallery and usage tests: a studio on SQLite and on a PostgreSQL database of the module's own, and
helpers that write users and generations with known values."""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from akari.config import load_settings
from akari.db.models import Generation, User, utcnow
from akari.prompts import GenerationRequest
from akari.queue import LiveInstance
from akari.records import GenerationRecord
from akari.stores import ImageMeta
from akari.studio import Studio
from tests.db_fixtures import require_postgres

POSTGRES_URL = os.environ.get("AKARI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Everything a test writes; emptied between the tests of a module that share one PostgreSQL database.
TABLES = ("usage_delta", "usage_daily", "instances", "generations", "login_failures", "preferences", "api_hits",
          "api_tokens", "users")


@dataclass(frozen=True)
class Viewer:
    id: int


def _server_url() -> str:
    return make_url(POSTGRES_URL).set(database="postgres").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A database of this module's own on the PostgreSQL server, dropped afterwards."""
    require_postgres(_server_url())
    name = f"akari_t_{secrets.token_hex(6)}"
    server = create_engine(_server_url(), isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        server.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test once on a fresh SQLite file and once on the module's PostgreSQL database, emptied first."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'akari.db'}"
    url = request.getfixturevalue("postgres_database")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            present = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
            wanted = [t for t in TABLES if t in present]
            if wanted:
                conn.execute(text(f"TRUNCATE {', '.join(wanted)} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()
    return url


@pytest.fixture
def studio(database_url: str, tmp_path: Path) -> Iterator[Studio]:
    settings = load_settings(akari_data_dir=str(tmp_path / "data"), akari_database_url=database_url)
    opened = Studio.open(settings)
    yield opened
    opened.close()


def add_user(studio: Studio, username: str, *, admin: bool = False, enabled: bool = True) -> Viewer:
    with studio.sessions.begin() as session:
        user = User(username=username, name=username.title(), email="", roles=["admin" if admin else "member"],
                    enabled=enabled, password_hash=None)
        session.add(user)
        session.flush()
        return Viewer(user.id)


def picture(colour: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(out, format="JPEG")
    return out.getvalue()


def add_generation(studio: Studio, owner: Viewer, prompt: str = "a lighthouse at dusk", *, stored: bool = False,
                   **columns: object) -> int:
    """One row with sensible defaults; `stored=True` keeps a real image in the studio's store first."""
    values: dict[str, object] = {
        "steps": 4, "seed": 1, "model": "@cf/black-forest-labs/flux-1-schnell", "generator": "cloudflare",
        "store": "local", "status": "succeeded", "neurons": 57.6, "generate_ms": 1500, "store_ms": 20,
        "created_at": utcnow() - timedelta(hours=1), "is_public": False, "is_favourite": False,
    }
    values.update(columns)
    if values["status"] != "succeeded":
        values.setdefault("error_reason", "safety_filter" if values["status"] == "failed" else None)
    if stored:
        image = studio.store.save(picture(), name=f"g0-{secrets.token_hex(8)}", fmt="jpeg", private=True,
                                  meta=ImageMeta(0, "x", prompt))
        values.update(image_key=image.key, image_url=image.url, image_format=image.format, width=image.width,
                      height=image.height, bytes=image.bytes)
    with studio.sessions.begin() as session:
        row = Generation(user_id=owner.id, prompt=prompt, **values)
        session.add(row)
        session.flush()
        return row.id


def generate_now(studio: Studio, user_id: int, request: GenerationRequest) -> GenerationRecord:
    """Submit and run one generation in this thread, touching no other queued row (tests that need no workers)."""
    generation_id = studio.generations.submit(user_id, request)
    me = LiveInstance(studio.sessions, kind="cli", workers=0, lease_seconds=60).register()
    try:
        job = studio.generations.queue.claim(me.id, only=(generation_id,))
        assert job is not None
        studio.generations.run(job, me.id)
    finally:
        me.close()
    return studio.generations.get(generation_id)


def local_file(studio: Studio, generation_id: int, size: str = "full") -> Path:
    """Where the local store keeps this generation's image (or its thumbnail)."""
    key = row(studio, generation_id).image_key
    assert key is not None
    return studio.stores.get("local").path(key, size)  # type: ignore[attr-defined]


def row(studio: Studio, generation_id: int) -> Generation:
    with studio.sessions() as session:
        found = session.get(Generation, generation_id)
        assert found is not None
        return found


def at(days_ago: float, hour: int = 12) -> datetime:
    """A naive UTC time `days_ago` days before today, at `hour`."""
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago) + timedelta(hours=hour)
