"""The studio: settings, database, generator, stores and services wired together once, from settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from akari.accounts import Accounts, cookie_key
from akari.config import Settings, load_settings
from akari.db import migrate
from akari.db.engine import make_engine, make_session_factory
from akari.db.models import User
from akari.generation import GenerationService, RetryReport
from akari.generators import ImageGenerator, make_generator
from akari.images import Images
from akari.invitations import Invitations
from akari.queue import LiveInstance
from akari.quota import Quotas
from akari.shown import RecentlyShown
from akari.signins import SignIns
from akari.spool import Spool
from akari.stores import ImageStore, Stores, make_stores
from akari.tokens import Tokens
from akari.verification import EmailVerification
from akari.worker import WorkerPool


@dataclass(frozen=True)
class Backends:
    generator: str
    store: str
    database: str
    offline: bool  # the generator is the offline sketch renderer, not AI


class Studio:
    def __init__(self, settings: Settings, engine: Engine, generator: ImageGenerator, stores: Stores) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions: sessionmaker[Session] = make_session_factory(engine)
        self.generator = generator
        self.stores = stores
        self.spool = Spool(settings.spool_dir)
        self.images = Images(stores, self.spool)
        self.shown = RecentlyShown()
        self.accounts = Accounts(self.sessions, bcrypt_rounds=settings.bcrypt_rounds)
        self.signins = SignIns(self.sessions, cookie_key(settings))
        self.invitations = Invitations(self.sessions)
        self.verification = EmailVerification(self.sessions, settings.smtp)
        self.quotas = Quotas(self.sessions, settings.default_daily_quota, settings.default_daily_neurons)
        self.generations = GenerationService(
            self.sessions, generator, stores, self.spool, self.quotas, deadline_s=settings.generation_deadline,
            lease_seconds=settings.lease_seconds, upload_retry_s=settings.upload_retry_seconds,
        )
        self.tokens = Tokens(self.sessions, rate_per_minute=settings.api_rate_per_minute)
        self.workers: WorkerPool | None = None

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        generator: ImageGenerator | None = None,
        store: ImageStore | None = None,
        run_migrations: bool = True,
    ) -> Studio:
        """Build everything from settings and apply migrations. Workers start separately (`start_workers`)."""
        settings = settings or load_settings()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(settings.database_url, connections=settings.workers + 5)
        if run_migrations:
            migrate.upgrade(engine)
        stores = make_stores(settings)
        if store is not None:
            stores = Stores(store, stores.get("local"), stores.get("demo"))
        return cls(settings, engine, generator or make_generator(settings), stores)

    @property
    def store(self) -> ImageStore:
        """The store new images go to."""
        return self.stores.current

    def start_workers(self, workers: int | None = None, *, kind: str = "app",
                      only: tuple[int, ...] | None = None) -> WorkerPool:
        """Run generations in this process (and keep up the queue's recovery) until `close`."""
        if self.workers is None:
            self.workers = WorkerPool(self.generations, workers=self.settings.workers if workers is None else workers,
                                      kind=kind, lease_seconds=self.settings.lease_seconds, only=only).start()
        return self.workers

    def retry_uploads(self) -> RetryReport:
        """Upload now every image waiting in this machine's spool (the command line's and the admin's button).
        Under an instance of its own: the workers' upkeep hands back rows of theirs that no worker runs."""
        me = LiveInstance(self.sessions, kind="cli", workers=0, lease_seconds=self.settings.lease_seconds).register()
        try:
            return self.generations.retry_uploads(me)
        finally:
            me.close()

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
        if self.workers is not None:
            self.workers.stop()
            self.workers = None
        self.engine.dispose()
