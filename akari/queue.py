"""The generations table as a queue: process instances with heartbeats, atomic claims, guarded changes, takeover.

A row is worked on by whoever holds its lease: `status = 'running'` and `lease_owner` = an instance id. Instances
beat every few seconds; a row whose owner stopped beating (or vanished) is taken back by any live instance, from
what was kept: a row with a spooled image goes on to its upload, any other row runs again.
"""

from __future__ import annotations

import functools
import logging
import os
import secrets
import socket
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Update, and_, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from akari.db.engine import IMMEDIATE
from akari.db.models import Generation, Instance, User, utcnow
from akari.db.transactions import retrying

log = logging.getLogger("akari.queue")
_INSTANCES = Instance.__table__
_GENERATIONS = Generation.__table__
_CLAIMED = (select(Generation, User.username).join(User, User.id == Generation.user_id)
            .where(Generation.id == bindparam("id")))

CLAIMABLE = ("queued", "pending_upload")
# A row claimed this many times without getting as far as a spooled image is given up (a crash loop).
MAX_ATTEMPTS = 3
INTERRUPTED_MESSAGE = "This generation was interrupted several times by server restarts. Please run it again."


@dataclass(frozen=True)
class Job:
    """A claimed row: everything a worker needs, read in the claiming transaction."""

    id: int
    user_id: int
    username: str
    prompt: str
    steps: int
    seed: int
    is_public: bool
    asset_token: str
    spool_key: str | None
    image_format: str | None
    attempts: int
    upload_attempts: int
    generate_ms: int | None
    # The model and its other inputs (None: the generator's default model; the model's own defaults).
    model: str | None = None
    width: int | None = None
    height: int | None = None
    guidance: float | None = None
    negative_prompt: str | None = None
    reference_key: str | None = None
    reference_store: str | None = None


@functools.cache
def _change_statement(columns: tuple[str, ...]) -> Update:
    """A guarded update of these columns, built once per set of columns (Core: it runs several times per image)."""
    table = _GENERATIONS
    return (update(table)
            .where(table.c.id == bindparam("row_id"), table.c.status == bindparam("expected"),
                   table.c.lease_owner == bindparam("owner"))
            .values({name: bindparam(f"new_{name}") for name in columns}))


class LeaseLost(Exception):
    """The row is no longer ours (another instance took it over, or it was cancelled): stop working on it."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LiveInstance:
    """This process, as the other processes see it: a random id (never host:pid, which a restart can reuse) and a
    heartbeat kept by a thread of its own, so long work never makes a live process look dead."""

    def __init__(self, sessions: sessionmaker[Session], *, kind: str, workers: int, lease_seconds: float) -> None:
        self.sessions = sessions
        self.id = secrets.token_hex(8)
        self.kind = kind
        self.workers = workers
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.lease_seconds = lease_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def register(self) -> LiveInstance:
        now = utcnow()
        retrying(lambda: self._insert(now), what="registering this process")
        self._thread = threading.Thread(target=self._beat_forever, name=f"akari-heartbeat-{self.id}", daemon=True)
        self._thread.start()
        log.info("instance %s (%s, pid %s on %s) started with %d worker(s)", self.id, self.kind, self.pid, self.host,
                 self.workers)
        return self

    def _insert(self, now: datetime) -> None:
        with self.sessions.begin() as session:
            session.execute(insert(_INSTANCES).values(
                id=self.id, host=self.host, pid=self.pid, kind=self.kind, workers=self.workers, started_at=now,
                heartbeat_at=now))

    def beat(self) -> None:
        with self.sessions.begin() as session:
            found = session.execute(update(_INSTANCES).where(_INSTANCES.c.id == self.id)
                                    .values(heartbeat_at=utcnow())).rowcount
        if not found:
            # Declared dead during an outage: our rows were handed on; announce ourselves again for new work.
            log.warning("instance %s was presumed dead; registering again", self.id)
            self._insert(utcnow())

    def _beat_forever(self) -> None:
        while not self._stop.wait(max(self.lease_seconds / 4, 0.05)):
            try:
                self.beat()
            except Exception as exc:  # the database may be away for a while; keep beating
                log.warning("heartbeat of %s failed: %s", self.id, exc.__class__.__name__)

    def close(self) -> None:
        """Stop beating and leave the table (call once this instance holds no lease)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            with self.sessions.begin() as session:
                session.execute(delete(_INSTANCES).where(_INSTANCES.c.id == self.id))
        except Exception as exc:
            log.warning("could not remove instance %s: %s", self.id, exc.__class__.__name__)


class Queue:
    def __init__(self, sessions: sessionmaker[Session], *, lease_seconds: float) -> None:
        self.sessions = sessions
        engine = sessions.kw["bind"]
        self._writer = engine.execution_options(**{IMMEDIATE: True})
        self.lease_seconds = lease_seconds
        self.host = socket.gethostname()

    # -- claiming --------------------------------------------------------------------------------------------------
    def claim(self, owner: str, only: tuple[int, ...] | None = None, uploads_only: bool = False) -> Job | None:
        """Take the next row atomically, or None. Fair between users: first the user with the fewest rows running,
        then the one served longest ago (round robin), then the oldest row; so one user's batch of 50 cannot starve
        another's single image."""
        return retrying(lambda: self._claim(owner, only, uploads_only), what="claiming a generation")

    def _claim(self, owner: str, only: tuple[int, ...] | None, uploads_only: bool) -> Job | None:
        params: dict[str, object] = {"now": utcnow(), "owner": owner, "host": self.host}
        if only is not None:
            params["only"] = list(only)
        with self.sessions.begin() as session:
            dialect = session.get_bind().dialect.name
            claimed = session.execute(self._claim_statement(dialect, only is not None, uploads_only), params).scalar()
            if claimed is None:
                return None
            row, username = session.execute(_CLAIMED, {"id": claimed}).one()
            return Job(row.id, row.user_id, username, row.prompt, row.steps, row.seed, bool(row.is_public),
                       row.asset_token or f"x{row.id}", row.spool_key, row.image_format, row.attempts,
                       row.upload_attempts, row.generate_ms, row.model, row.width, row.height, row.guidance,
                       row.negative_prompt, row.reference_key, row.reference_store)

    @staticmethod
    @functools.cache
    def _claim_statement(dialect: str, with_only: bool, uploads_only: bool) -> Update:
        """Built once per shape: building the expression costs more than running it."""
        now = bindparam("now")
        other = aliased(Generation)
        running_for_user = (select(func.count(other.id))
                            .where(other.user_id == Generation.user_id, other.status == "running")
                            .scalar_subquery())
        last_served = (select(func.max(other.started_at)).where(other.user_id == Generation.user_id)
                       .scalar_subquery())
        upload_due = and_(
            Generation.status == "pending_upload",
            or_(Generation.next_attempt_at.is_(None), Generation.next_attempt_at <= now),
            # The spooled image lives on the disk of the machine that made it (no host: a shared data folder).
            Generation.spool_key.is_not(None),
            or_(Generation.spool_host.is_(None), Generation.spool_host == bindparam("host")),
        )
        claimable = upload_due if uploads_only else or_(Generation.status == "queued", upload_due)
        pick = select(Generation.id).where(claimable)
        if with_only:
            pick = pick.where(Generation.id.in_(bindparam("only", expanding=True)))
        pick = pick.order_by(running_for_user, last_served.asc().nulls_first(), Generation.id).limit(1)
        if dialect == "postgresql":
            pick = pick.with_for_update(skip_locked=True, of=Generation)
        return (update(Generation)
                .where(Generation.id == pick.scalar_subquery(), Generation.status.in_(CLAIMABLE))
                .values(status="running", lease_owner=bindparam("owner"), attempts=Generation.attempts + 1,
                        started_at=func.coalesce(Generation.started_at, now))
                .returning(Generation.id))

    # -- changing a leased row ---------------------------------------------------------------------------------------
    def change(self, generation_id: int, owner: str, *, expected: str = "running", **values: object) -> None:
        """Write `values` to a row we hold; LeaseLost when it is no longer ours (every change is guarded)."""
        statement = _change_statement(tuple(sorted(values)))
        params = {"row_id": generation_id, "expected": expected, "owner": owner,
                  **{f"new_{name}": value for name, value in values.items()}}

        def work() -> int:
            with self._writer.begin() as connection:  # a plain connection: this runs several times per image
                return connection.execute(statement, params).rowcount

        if not retrying(work, what=f"updating generation {generation_id}"):
            raise LeaseLost(f"generation {generation_id} is no longer held by {owner}")

    # -- recovery ----------------------------------------------------------------------------------------------------
    def dead_instances(self, me: LiveInstance) -> list[str]:
        """Instances whose heartbeat stopped, or on this machine whose process is gone (or is this one, restarted
        with the same pid)."""
        stale = utcnow() - timedelta(seconds=self.lease_seconds)
        with self.sessions() as session:
            rows = session.execute(select(_INSTANCES.c.id, _INSTANCES.c.host, _INSTANCES.c.pid,
                                          _INSTANCES.c.heartbeat_at)).all()
        dead = []
        for instance_id, host, pid, heartbeat in rows:
            if instance_id == me.id:
                continue
            same_machine_gone = host == me.host and (pid == me.pid or not _pid_alive(pid))
            if heartbeat < stale or same_machine_gone:
                dead.append(instance_id)
        return dead

    def recover(self, me: LiveInstance, active: set[int] | None = None) -> int:
        """Take back rows whose owner is dead or unknown, and rows leased to `me` that no worker of mine runs
        (`active`: the ids my workers hold). Returns how many rows were released."""
        dead = self.dead_instances(me)
        with self.sessions() as session:
            # Leases first: an instance that registers and claims in between is then known, not an orphan.
            leased = session.execute(
                select(Generation.id, Generation.lease_owner).where(Generation.status == "running")
            ).all()
            session.commit()  # a fresh snapshot for the second read
            known = set(session.scalars(select(_INSTANCES.c.id)))
        orphans: dict[str, list[int]] = {}
        for generation_id, owner in leased:
            mine_but_idle = owner == me.id and active is not None and generation_id not in active
            if owner in dead or owner not in known or mine_but_idle:
                orphans.setdefault(owner or "", []).append(generation_id)
        released = 0
        for owner, ids in orphans.items():
            released += retrying(lambda owner=owner, ids=ids: self._release(owner, ids), what="taking over rows")
        if dead:
            with self.sessions.begin() as session:
                session.execute(delete(_INSTANCES).where(_INSTANCES.c.id.in_(dead)))
        if released:
            log.warning("took back %d generation(s) from stopped processes", released)
        return released

    def _release(self, owner: str, ids: list[int]) -> int:
        now = utcnow()
        held = and_(Generation.id.in_(ids), Generation.status == "running",
                    Generation.lease_owner == owner if owner else Generation.lease_owner.is_(None))
        with self.sessions.begin() as session:
            # The image was made and spooled: on to its upload.
            uploads = session.execute(update(Generation).where(held, Generation.spool_key.is_not(None))
                                      .values(status="pending_upload", lease_owner=None, next_attempt_at=now)).rowcount
            # Nothing kept yet: run it again, unless it keeps dying.
            given_up = session.execute(
                update(Generation).where(held, Generation.spool_key.is_(None), Generation.attempts >= MAX_ATTEMPTS)
                .values(status="failed", lease_owner=None, error_reason="interrupted", error_code=None, neurons=0.0,
                        error_message=INTERRUPTED_MESSAGE, error_detail=f"lease of {owner or 'nobody'} lost",
                        finished_at=now)).rowcount
            again = session.execute(update(Generation).where(held, Generation.spool_key.is_(None))
                                    .values(status="queued", lease_owner=None)).rowcount
        return uploads + given_up + again

    # -- reading -----------------------------------------------------------------------------------------------------
    def position(self, generation_id: int) -> int:
        """How many queued rows are ahead of this one (0: next)."""
        with self.sessions() as session:
            return session.scalar(select(func.count(Generation.id))
                                  .where(Generation.status == "queued", Generation.id < generation_id)) or 0

    def live_workers(self) -> int:
        """Workers of the instances that beat recently (the app's, headless workers')."""
        fresh = utcnow() - timedelta(seconds=self.lease_seconds)
        with self.sessions() as session:
            return int(session.scalar(select(func.coalesce(func.sum(_INSTANCES.c.workers), 0))
                                      .where(_INSTANCES.c.heartbeat_at >= fresh)) or 0)
