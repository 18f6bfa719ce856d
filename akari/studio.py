"""The studio: settings, database, generator, store and services wired together once, from settings."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from akari.accounts import Accounts
from akari.config import Settings, load_settings
from akari.db import migrate
from akari.db.engine import make_engine, make_session_factory
from akari.db.models import User
from akari.generation import GenerationService
from akari.generators import ImageGenerator, make_generator
from akari.spool import Spool
from akari.stores import ImageStore, make_store

log = logging.getLogger("akari")


@dataclass(frozen=True)
class Backends:
    generator: str
    store: str
    database: str
    offline: bool  # the generator is the offline sketch renderer, not AI

    def summary(self) -> str:
        return f"Images: {self.generator} · Storage: {self.store} · Database: {self.database}"


class Studio:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        generator: ImageGenerator,
        store: ImageStore,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.generator = generator
        self.store = store
        self.spool = Spool(settings.spool_dir)
        self.accounts = Accounts(self.sessions)
        self.generations = GenerationService(
            self.sessions, generator, store, self.spool, default_daily_quota=settings.default_daily_quota
        )

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        generator: ImageGenerator | None = None,
        store: ImageStore | None = None,
        run_migrations: bool = True,
    ) -> Studio:
        """Build everything from settings, apply migrations and mark rows left running by a crash."""
        settings = settings or load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url)
        if run_migrations:
            migrate.upgrade(engine)
        studio = cls(settings, engine, generator or make_generator(settings), store or make_store(settings))
        interrupted = studio.generations.recover_interrupted()
        if interrupted:
            log.warning("marked %d interrupted generation(s) as failed", interrupted)
        return studio

    @property
    def backends(self) -> Backends:
        return Backends(
            generator=self.settings.generator_label,
            store=self.settings.store_label if self.store.name == self.settings.store else self.store.name,
            database=self.settings.database_label,
            offline=self.generator.name == "offline",
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    def user_id(self, username: str) -> int | None:
        with self.sessions() as session:
            return session.scalar(select(User.id).where(User.username == username.strip().lower()))

    def ensure_service_user(self, username: str) -> int:
        """An account for command-line generations; it has no password, so nobody can sign in as it."""
        name = username.strip().lower()
        with self.sessions.begin() as session:
            user = session.scalar(select(User).where(User.username == name))
            if user is None:
                user = User(username=name, name=name, roles=["member"], password_hash=None)
                session.add(user)
                session.flush()
            return user.id

    def close(self) -> None:
        self.generations.jobs.shutdown(wait=True)
        self.engine.dispose()
