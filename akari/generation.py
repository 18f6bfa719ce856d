"""The generation service: submit (quota and row in one serialised step), run a claimed row, read results.

A generation is a row from the moment it is accepted: queued -> running -> succeeded | failed | pending_upload,
or cancelled while still queued. A worker holding the row's lease makes the image, writes it to the spool (fsync'd)
and records that before the upload; the spool file goes only once the row says succeeded. So a crash at any moment
leaves either a row to run again or a kept image to upload, never a paid image lost.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import partial
from typing import Protocol

from sqlalchemy import bindparam, exists, func, insert, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from akari import logs, model_choice, references, retries
from akari.completions import Completions
from akari.db.engine import IMMEDIATE
from akari.db.models import Generation, User, utcnow
from akari.db.transactions import persistently, retrying, translated
from akari.errors import AkariError, DatabaseUnavailable, InvalidInput, NotFound, PermissionDenied, StoreError
from akari.generators import ImageGenerator, ModelInputs
from akari.imaging import check_reference
from akari.models_catalog import CATALOG, DEFAULT_MODEL, ModelSpec
from akari.pricing import neurons_for
from akari.prompts import GenerationRequest, check_seed, validate
from akari.queue import Job, LeaseLost, LiveInstance, Queue
from akari.quota import Quotas
from akari.records import GenerationRecord
from akari.spool import Spool
from akari.stores import ImageMeta, StoredImage, Stores

log = logging.getLogger("akari.generation")
_GENERATIONS = Generation.__table__
_USERS = User.__table__
_BY_ID = (select(_GENERATIONS, _USERS.c.username)
          .join(_USERS, _USERS.c.id == _GENERATIONS.c.user_id)
          .where(_GENERATIONS.c.id == bindparam("id")))
_ANYONE_WAITING = select(exists().where(Generation.status == "queued"))
_LOCK_USER = (select(_USERS.c.id, _USERS.c.username, _USERS.c.enabled, _USERS.c.daily_quota,
                      _USERS.c.daily_neuron_quota)
              .where(_USERS.c.id == bindparam("id")).with_for_update(key_share=True))
# "Reuse settings" shares the generation's stored reference: locked against a delete that would release it.
_REUSABLE = (select(_GENERATIONS.c.id)
             .where(_GENERATIONS.c.id == bindparam("id"), _GENERATIONS.c.deleted_at.is_(None))
             .with_for_update(read=True))
_INSERT = insert(_GENERATIONS).returning(_GENERATIONS.c.id, sort_by_parameter_order=True)


class LocalRunner(Protocol):
    """Workers in this process that can take rows straight from a submit."""

    id: str  # the instance that will hold the leases

    def reserve(self, count: int) -> bool:
        """Hold `count` free workers for a submit in progress; False if there are not that many."""
        ...

    def run_claimed(self, jobs: list[Job], *, reserved: int) -> None:
        """Run these (already claimed) rows and give back the rest of the `reserved` workers."""
        ...

    def wake(self) -> None:
        """Look at the queue now: something was queued."""
        ...

    def active(self) -> set[int]:
        """The rows its workers hold now."""
        ...

ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("succeeded", "failed", "cancelled")
PENDING_UPLOAD_MESSAGE = (
    "Your image was made but could not be saved to the image store yet. "
    "It is kept safely on the server and the upload is retried automatically."
)
INTERNAL_MESSAGE = "Something went wrong on our side while making this image. Please try again."
MAX_BATCH = 4
# The final write of a made image rides out a database outage this long before it is left to recovery.
FINAL_WRITE_PATIENCE_S = 120.0
MAX_UPLOAD_BACKOFF_S = 3600.0


@dataclass
class RetryReport:
    stored: list[int] = field(default_factory=list)
    still_pending: dict[int, str] = field(default_factory=dict)  # id -> reason
    missing: list[int] = field(default_factory=list)  # spool file gone: marked failed


class GenerationService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        generator: ImageGenerator,
        stores: Stores,
        spool: Spool,
        quotas: Quotas,
        *,
        deadline_s: float = 90.0,
        lease_seconds: float = 30.0,
        upload_retry_s: float = 30.0,
    ) -> None:
        self.sessions = sessions
        self.generator = generator
        self.stores = stores
        self.spool = spool
        self.quotas = quotas
        self.deadline_s = deadline_s
        self.upload_retry_s = upload_retry_s
        self.queue = Queue(sessions, lease_seconds=lease_seconds)
        engine = sessions.kw["bind"]
        self._writer = engine.execution_options(**{IMMEDIATE: True})
        # One statement needs no transaction around it: on PostgreSQL that saves the BEGIN and ROLLBACK round trips.
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT") \
            if engine.dialect.name == "postgresql" else engine
        self.completions = Completions()
        self.local: LocalRunner | None = None  # this process's workers, if it runs any

    def attach(self, runner: LocalRunner | None) -> None:
        self.local = runner

    # -- submitting ----------------------------------------------------------------------------------------------
    def submit(self, user_id: int, request: GenerationRequest) -> int:
        """Validate, check the quota and record the attempt in one step; a worker runs it. Returns its id."""
        return self.submit_batch(user_id, request, 1)[0]

    def submit_batch(self, user_id: int, request: GenerationRequest, count: int) -> list[int]:
        """`count` images of one prompt: the first with the request's seed (or a random one), the others random.
        All or none are accepted: the quota must hold them all."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_BATCH:
            raise InvalidInput(f"A batch has 1 to {MAX_BATCH} images (you asked for {count!r}).")
        try:
            with self._reader.connect() as connection:
                spec = model_choice.resolve(connection, request.model)
        except SQLAlchemyError as exc:
            raise translated(exc) from exc
        first = validate(request, spec)
        requests = [first, *(replace(first, seed=check_seed(None)) for _ in range(count - 1))]
        reference = self._reference_for(user_id, first)
        local = self.local
        reserved = local is not None and local.reserve(len(requests))
        jobs: list[Job] = []
        try:
            ids, jobs = retrying(lambda: self._insert(user_id, requests, local if reserved else None, spec,
                                                      reference), what="submitting a generation")
        except BaseException as exc:
            if reference is not None and first.reference is not None:  # our upload of a refused request: undo it
                self._forget_reference(*reference)
            if isinstance(exc, SQLAlchemyError):
                raise translated(exc) from exc
            raise
        finally:
            if reserved and local is not None:
                local.run_claimed(jobs, reserved=len(requests))  # what was not handed over goes back to the pool
        if local is not None and not jobs:
            local.wake()
        return ids

    def _reference_for(self, user_id: int, request: GenerationRequest) -> tuple[str, str] | None:
        """(key, store) of the request's reference image: an upload is stored like any image (privately); a
        gallery image must be one's own or a shared one."""
        if request.reference is not None:
            fmt, _w, _h = check_reference(request.reference)
            store = self.stores.current
            stored = store.save(request.reference, name=references.upload_name(user_id), fmt=fmt,
                                private=True, meta=ImageMeta(0, str(user_id), request.prompt))
            return stored.key, store.name
        source = request.reference_from if request.reference_from is not None else request.reference_of
        if source is None:
            return None
        with self.sessions() as session:
            row = session.get(Generation, source)
        visible = row is not None and (row.user_id == user_id or row.is_public) and row.deleted_at is None
        if request.reference_of is not None:  # "Reuse settings": the same reference as that generation
            if not visible or row is None or not row.reference_key or not row.reference_store:
                raise InvalidInput("That generation's reference image cannot be reused: it is not yours or shared, "
                                   "or it started from none.")
            return row.reference_key, row.reference_store
        if not visible or row is None or row.status != "succeeded" or not row.image_key:
            raise InvalidInput("That image cannot be used as a reference: it is not yours or shared, or it has "
                               "no stored picture.")
        return row.image_key, row.store

    def _forget_reference(self, key: str, store: str) -> None:
        try:
            self.stores.get(store).delete(key)
        except Exception as exc:  # best effort: an orphan reference costs a little space, nothing else
            log.warning("could not remove the unused reference image %s: %s", key, exc)

    def _insert(self, user_id: int, requests: list[GenerationRequest], local: LocalRunner | None,
                spec: ModelSpec | None = None,
                reference: tuple[str, str] | None = None) -> tuple[list[int], list[Job]]:
        """One serialised step per user: a write transaction holds SQLite's write lock from BEGIN; on PostgreSQL the
        user's row is locked. So the count below and the insert it allows cannot interleave with another submit of
        this user. With free workers here and nothing waiting in the queue, the rows are handed straight to them
        (inserted already claimed): no queue round trip, and nobody is overtaken."""
        with self._writer.begin() as connection:  # Core on a plain connection: this is every image's first step
            user = connection.execute(_LOCK_USER, {"id": user_id}).first()
            if user is None:
                raise NotFound("That account does not exist.")
            if not user.enabled:
                raise PermissionDenied("This account is disabled. Ask your administrator.")
            reused_from = requests[0].reference_of
            if reference is not None and reused_from is not None \
                    and connection.execute(_REUSABLE, {"id": reused_from}).first() is None:
                raise InvalidInput("That generation's reference image cannot be reused: it was deleted.")
            paid = self.generator.name == "cloudflare"
            each = [spec.neurons(r.width, r.height, r.steps, 1 if reference else 0) if spec and paid else 0.0
                    for r in requests]
            self.quotas.reserve(connection, user, len(requests), sum(each))  # type: ignore[arg-type]
            owner = None if local is None or connection.scalar(_ANYONE_WAITING) else local.id
            now = utcnow()
            ref_key, ref_store = reference or (None, None)
            rows = [{"user_id": user_id, "prompt": r.prompt, "steps": r.steps, "seed": r.seed,
                     "model": spec.id if spec else self.generator.model, "generator": self.generator.name,
                     "store": self.stores.current.name, "is_public": r.is_public, "source": r.source,
                     "asset_token": secrets.token_hex(8), "created_at": now,
                     "status": "running" if owner else "queued", "lease_owner": owner,
                     "attempts": 1 if owner else 0, "started_at": now if owner else None,
                     "width": r.width, "height": r.height, "guidance": r.guidance,
                     "negative_prompt": r.negative_prompt, "reference_key": ref_key, "reference_store": ref_store,
                     "neurons": neurons}
                    for r, neurons in zip(requests, each, strict=True)]
            ids = list(connection.execute(_INSERT, rows).scalars())
        # Committed: only now may the workers start on them.
        jobs = [Job(row_id, user_id, user.username, row["prompt"], row["steps"], row["seed"], row["is_public"],
                    row["asset_token"], None, None, 1, 0, None, row["model"], row["width"], row["height"],
                    row["guidance"], row["negative_prompt"], ref_key, ref_store)
                for row_id, row in zip(ids, rows, strict=True)]
        return ids, jobs if owner else []

    def cancel(self, user_id: int, generation_id: int) -> None:
        """Cancel a generation of one's own that has not started; it no longer counts against the quota."""
        def work() -> int:
            with self.sessions.begin() as session:
                return session.execute(
                    update(Generation)
                    .where(Generation.id == generation_id, Generation.user_id == user_id,
                           Generation.status == "queued")
                    .values(status="cancelled", finished_at=utcnow(), error_reason="cancelled", neurons=0.0,
                            error_message="Cancelled before it started.")
                ).rowcount

        if not retrying(work, what="cancelling"):
            raise InvalidInput("Only a generation that has not started yet can be cancelled.")
        self.completions.done(generation_id)

    # -- reading -------------------------------------------------------------------------------------------------
    def get(self, generation_id: int) -> GenerationRecord:
        try:
            with self._reader.connect() as connection:  # a plain connection: waiters read rows often
                found = connection.execute(_BY_ID, {"id": generation_id}).first()
        except SQLAlchemyError as exc:
            raise translated(exc) from exc
        if found is None:
            raise NotFound("That image does not exist.")
        return GenerationRecord.from_row(found, found.username)  # type: ignore[arg-type]

    def wait(self, generation_id: int, timeout: float | None = None) -> GenerationRecord:
        """The row once it is done (or as it is when `timeout` runs out). Woken at once by a worker of this process;
        a worker elsewhere is noticed by looking at the row every half second."""
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            while True:
                event = self.completions.event(generation_id)
                local = self.local
                if not event.is_set() and local is not None and generation_id in local.active():
                    # Running here: its worker wakes us; no need to read the row until then.
                    left = None if deadline is None else deadline - time.monotonic()
                    event.wait(left)
                record = self.get(generation_id)
                left = None if deadline is None else deadline - time.monotonic()
                if record.is_done or (left is not None and left <= 0):
                    return record
                event.wait(0.5 if left is None else min(0.5, left))
        finally:
            self.completions.forget(generation_id)

    def generate(self, user_id: int, request: GenerationRequest, timeout: float | None = None) -> GenerationRecord:
        """Submit and wait."""
        return self.wait(self.submit(user_id, request), timeout)

    def position(self, generation_id: int) -> int:
        return self.queue.position(generation_id)

    def active(self, user_id: int, limit: int = 50) -> list[GenerationRecord]:
        """The user's generations still queued or running, oldest first."""
        with self.sessions() as session:
            rows = session.execute(
                select(Generation, User.username).join(User)
                .where(Generation.user_id == user_id, Generation.status.in_(ACTIVE_STATUSES))
                .order_by(Generation.id).limit(limit)
            ).all()
        return [GenerationRecord.from_row(row, name) for row, name in rows]

    def recent_failures(self, limit: int = 50, user_id: int | None = None) -> list[GenerationRecord]:
        """Failed attempts, newest first, with their reasons (one user's, or everyone's)."""
        query = (
            select(Generation, User.username)
            .join(User)
            .where(Generation.status == "failed")
            .order_by(Generation.created_at.desc(), Generation.id.desc())
            .limit(limit)
        )
        if user_id is not None:
            query = query.where(Generation.user_id == user_id)
        with self.sessions() as session:
            return [GenerationRecord.from_row(row, name) for row, name in session.execute(query)]

    def pending_uploads(self) -> int:
        with self.sessions() as session:
            return session.scalar(
                select(func.count(Generation.id)).where(Generation.status == "pending_upload")
            ) or 0

    # -- running a claimed row -----------------------------------------------------------------------------------
    def run(self, job: Job, owner: str) -> None:
        """Work on a row we hold until it reaches a state of its own. Never raises."""
        kept: str | None = None
        self.completions.again(job.id)
        try:
            with logs.context(generation_id=job.id, user_id=job.user_id):
                kept = self._run(job, owner)
        except LeaseLost:
            log.info("generation %s was taken over or cancelled; this worker stops", job.id)
        except DatabaseUnavailable as exc:
            # The row keeps our lease and its spooled image; our recovery hands it on once the database is back.
            log.warning("generation %s: the database stayed unavailable: %s", job.id, exc.log_line())
        except Exception:  # a bug must not leave the row 'running' for ever
            log.exception("generation %s crashed", job.id)
            try:
                self._record_crash(job, owner)
            except Exception:
                log.exception("generation %s: could not record the crash", job.id)
        finally:
            self.completions.done(job.id)
        if kept:  # the row says succeeded: the spooled copy can go (after the waiter was woken)
            self.spool.remove(kept)

    def _record_crash(self, job: Job, owner: str) -> None:
        with self.sessions() as session:
            spooled = session.scalar(select(Generation.spool_key).where(Generation.id == job.id))
        if spooled:  # the image was made and kept: never throw a paid image away, retry its upload later
            self._change(job, owner, status="pending_upload", lease_owner=None, error_reason="internal",
                         error_message=PENDING_UPLOAD_MESSAGE, next_attempt_at=utcnow() + timedelta(
                             seconds=self.upload_retry_s), finished_at=utcnow())
        else:
            self._change(job, owner, status="failed", error_reason="internal", error_code=None, neurons=0.0,
                         error_message=INTERNAL_MESSAGE, error_detail=None, lease_owner=None, finished_at=utcnow())

    def _note_retry(self, job: Job, owner: str, attempt: int, attempts: int, error: AkariError) -> None:
        """While the next attempt waits, the running row says so ("busy, retrying 2/4"); a note, never fatal."""
        try:
            self.queue.change(job.id, owner, error_message=retries.retry_note(attempt, attempts, error))
        except (LeaseLost, AkariError, SQLAlchemyError) as exc:
            log.info("generation %s: retry note not recorded: %s", job.id, exc)

    def _change(self, job: Job, owner: str, **values: object) -> None:
        persistently(lambda: self.queue.change(job.id, owner, **values), give_up_after=FINAL_WRITE_PATIENCE_S,
                     what=f"recording generation {job.id}")

    def _run(self, job: Job, owner: str) -> str | None:
        """Returns the spool key to remove once the image is stored."""
        if job.spool_key is not None:
            try:
                kept: bytes | None = self.spool.read(job.spool_key)
            except NotFound:
                kept = None
            return self._upload(job, owner, kept, job.image_format or "jpeg")
        started = time.perf_counter()
        spec = CATALOG.get(job.model or "")
        try:
            references = (self.stores.get(job.reference_store).read(job.reference_key),) \
                if job.reference_key and job.reference_store else ()
            inputs = ModelInputs(spec.id if spec else None, job.width, job.height, job.guidance, job.negative_prompt,
                                 references)
            # A plain FLUX.1 request is made the way generators always took it (test doubles and older ones too).
            plain = inputs in (ModelInputs(), ModelInputs(DEFAULT_MODEL))
            with retries.listening(partial(self._note_retry, job, owner)):
                image = self.generator.generate(job.prompt, steps=job.steps, seed=job.seed,
                                                deadline=time.monotonic() + self.deadline_s,
                                                **({} if plain else {"inputs": inputs}))
        except NotFound as exc:
            self._change(job, owner, status="failed", error_reason="reference_missing", error_code=None, neurons=0.0,
                         error_message="The reference image of this generation is gone: start again from another.",
                         error_detail=exc.log_line(), generate_ms=_ms_since(started), lease_owner=None,
                         finished_at=utcnow())
            return None
        except AkariError as exc:
            log.warning("generation failed: %s", exc.log_line(), extra={"reason": exc.reason})
            # No image, no charge: the estimate reserved at submit is given back.
            self._change(job, owner, status="failed", error_reason=exc.reason, error_code=exc.code, neurons=0.0,
                         error_message=exc.message, error_detail=exc.detail, generate_ms=_ms_since(started),
                         lease_owner=None, finished_at=utcnow())
            return None
        made = {"generate_ms": _ms_since(started), "image_format": image.format, "width": image.width,
                "height": image.height, "bytes": len(image.data), "request_id": image.meta.get("ray"),
                "neurons": _neurons(spec, job, image.width, image.height) if image.generator == "cloudflare"
                else 0.0}
        try:
            spool_key = self.spool.put(job.id, image.data, image.format)
        except StoreError as exc:
            # No room to keep it safe: try the store straight from memory, the only copy.
            log.error("generation %s: %s", job.id, exc.log_line())
            self._change(job, owner, **made)
            return self._upload(job, owner, image.data, image.format, unsafe=exc)
        self._change(job, owner, spool_key=spool_key, spool_host=self.spool.host, **made)
        with logs.context(request_id=made["request_id"]):
            return self._upload(job, owner, image.data, image.format)

    def _upload(self, job: Job, owner: str, data: bytes | None, fmt: str,
                unsafe: StoreError | None = None) -> str | None:
        """Store the image; on failure it waits in the spool for a retry with backoff. Returns the spool key to
        remove once the row says succeeded."""
        if data is None:
            self._change(job, owner, status="failed", error_reason="spool_missing", error_code=None,
                         error_message="The image waiting for upload was lost from the server's spool folder.",
                         lease_owner=None, finished_at=utcnow())
            return None
        store = self.stores.current
        started = time.perf_counter()
        try:
            stored = store.save(data, name=f"g{job.id}-{job.asset_token}", fmt=fmt, private=not job.is_public,
                                meta=ImageMeta(job.id, job.username, job.prompt))
        except Exception as exc:
            error = exc if isinstance(exc, StoreError) else StoreError(
                "The image store failed.", detail=f"{type(exc).__name__}: {exc}")
            if unsafe is not None:
                self._change(job, owner, status="failed", error_reason=unsafe.reason, error_code=None,
                             error_message=unsafe.message, error_detail=f"{unsafe.detail}; {error.log_line()}",
                             lease_owner=None, finished_at=utcnow())
                return None
            delay = min(self.upload_retry_s * 2 ** job.upload_attempts, MAX_UPLOAD_BACKOFF_S)
            log.warning("kept in the spool, upload failed (retry in %.0f s): %s", delay, error.log_line(),
                        extra={"reason": error.reason})
            self._change(job, owner, status="pending_upload", lease_owner=None, error_reason=error.reason,
                         error_code=error.code, error_message=PENDING_UPLOAD_MESSAGE, error_detail=error.detail,
                         upload_attempts=job.upload_attempts + 1,
                         next_attempt_at=utcnow() + timedelta(seconds=delay), finished_at=utcnow())
            return None
        self._change(job, owner, status="succeeded", lease_owner=None, error_reason=None, error_code=None,
                     error_message=None, error_detail=None, next_attempt_at=None, store=store.name,
                     store_ms=_ms_since(started), finished_at=utcnow(), spool_key=None, spool_host=None,
                     **_stored_columns(stored))
        log.info("stored on %s", store.name)
        # Only now that the row says succeeded; a crash before the removal leaves a file for `sweep_spool`.
        return self.spool.key_for(job.id, fmt)

    def sweep_spool(self) -> int:
        """Remove spool files whose image is stored (the row says succeeded and no longer points at the file)."""
        files = self.spool.keys()
        if not files:
            return 0
        with self.sessions() as session:
            done = set(session.scalars(select(Generation.id).where(
                Generation.id.in_(files), Generation.status == "succeeded", Generation.spool_key.is_(None))))
        for generation_id in done:
            for key in files[generation_id]:
                self.spool.remove(key)
        return len(done)

    # -- uploads waiting in the spool ----------------------------------------------------------------------------
    def retry_uploads(self, me: LiveInstance) -> RetryReport:
        """Claim every image waiting for upload on this machine and try it now, whatever its backoff says. Two runs
        at once never upload one image twice: each row is claimed before it is touched."""
        report = RetryReport()
        with self.sessions.begin() as session:
            waiting = set(session.scalars(select(Generation.id).where(
                Generation.status == "pending_upload", Generation.spool_key.is_not(None),
                or_(Generation.spool_host.is_(None), Generation.spool_host == self.spool.host))))
            # Due now: someone asked for it.
            session.execute(update(Generation).where(Generation.id.in_(waiting), Generation.status == "pending_upload")
                            .values(next_attempt_at=None))
        while waiting and (job := self.queue.claim(me.id, only=tuple(sorted(waiting)), uploads_only=True)):
            waiting.discard(job.id)
            self.run(job, me.id)
            record = self.get(job.id)
            if record.status == "succeeded":
                report.stored.append(job.id)
            elif record.status == "pending_upload":
                report.still_pending[job.id] = record.error_message or "the upload failed"
            else:
                report.missing.append(job.id)
        return report


def _stored_columns(stored: StoredImage) -> dict[str, object]:
    return {"image_key": stored.key, "image_url": stored.url, "thumbnail_url": None, "image_format": stored.format,
            "width": stored.width, "height": stored.height, "bytes": stored.bytes}


def _neurons(spec: ModelSpec | None, job: Job, width: int, height: int) -> float:
    """The image's estimated price, from the size it came out at."""
    if spec is None:
        return neurons_for(job.steps, width, height)
    return spec.neurons(width, height, job.steps, 1 if job.reference_key else 0)


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
