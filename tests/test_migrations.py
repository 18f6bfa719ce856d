"""Migrations: applied automatically at start-up, on a fresh and on an existing database, data kept."""

from __future__ import annotations

from sqlalchemy import inspect, text

from akari.config import load_settings
from akari.db import migrate
from akari.db.engine import make_engine
from akari.studio import Studio


def test_a_fresh_database_is_brought_to_the_latest_schema(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        tables = set(inspect(engine).get_table_names())
        assert {"users", "generations", "login_failures", "preferences", "alembic_version"} <= tables
    finally:
        engine.dispose()


def test_upgrading_an_existing_database_keeps_its_data(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (username, name, email, roles, enabled, created_at, updated_at) "
                              "VALUES ('ada', 'Ada', '', '[\"admin\"]', true, '2026-01-01', '2026-01-01')"))
            conn.execute(text("INSERT INTO generations (user_id, prompt, steps, seed, model, generator, store, "
                              "status, neurons, is_public, is_favourite, created_at) VALUES "
                              "(1, 'an old lighthouse', 4, 1, 'm', 'offline', 'local', 'succeeded', 0, false, "
                              "false, '2026-01-01')"))
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT prompt FROM generations")).scalar_one() == "an old lighthouse"
        migrate.upgrade(engine)  # a second start changes nothing
    finally:
        engine.dispose()


def test_opening_the_studio_applies_migrations(database_url: str, tmp_path) -> None:
    settings = load_settings(akari_data_dir=str(tmp_path / "d"), akari_database_url=database_url)
    studio = Studio.open(settings)
    try:
        assert migrate.current_revision(studio.engine) == migrate.head_revision()
    finally:
        studio.close()


def test_sqlite_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    finally:
        engine.dispose()


def test_a_moved_data_directory_still_shows_every_local_image(tmp_path) -> None:
    """Databases from before keys were relative stored absolute paths: after the upgrade, a data directory that was
    moved (or restored elsewhere) still shows and serves each local image."""
    import shutil

    from tests.test_stores import png_bytes

    old = tmp_path / "old-data"
    (old / "images" / "ab").mkdir(parents=True)
    data = png_bytes(64, 48)
    (old / "images" / "ab" / "a1b2.png").write_bytes(data)
    engine = make_engine(f"sqlite:///{old / 'akari.db'}")
    migrate.upgrade(engine, "0002")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (username, name, email, roles, enabled, created_at, updated_at) "
                          "VALUES ('ada', 'Ada', '', '[\"member\"]', true, '2026-01-01', '2026-01-01')"))
        conn.execute(text(
            "INSERT INTO generations (user_id, prompt, steps, seed, model, generator, store, status, neurons, "
            "is_public, is_favourite, created_at, image_key, image_url, thumbnail_url, image_format) VALUES "
            "(1, 'a lighthouse', 4, 1, 'm', 'offline', 'local', 'succeeded', 0, false, false, '2026-01-01', "
            f"'ab/a1b2.png', '{old}/images/ab/a1b2.png', '{old}/images/thumbs/ab/a1b2.webp', 'png')"))
    engine.dispose()
    new = tmp_path / "restored" / "data"
    shutil.move(old, new)
    studio = Studio.open(load_settings(env={"AKARI_DATA_DIR": str(new)}))
    try:
        record = studio.generations.get(1)
        assert studio.images.read(record) == data
        assert studio.images.url(record, "full") == "/images/ab/a1b2.png"
    finally:
        studio.close()
