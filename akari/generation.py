"""The generation service: validate, check the quota, record, generate, store, record the result."""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from akari import preferences
from akari.db.models import Generation, User, utcnow
from akari.errors import AkariError, NotFound, PermissionDenied, QuotaExceeded
from akari.generators import GeneratedImage, ImageGenerator
from akari.jobs import JobRunner
from akari.pricing import neurons_for
from akari.prompts import GenerationRequest, validate
from akari.records import GenerationRecord
from akari.spool import Spool
from akari.stores import ImageStore, StoredImage

log = logging.getLogger("akari.generation")

ACTIVE_STATUSES = ("queued", "running")
COUNTED_STATUSES = ("queued", "running", "succeeded", "pending_upload")
# Longer than any attempt can take (timeouts x retries): a row older than this cannot still be running.
STALE_AFTER = timedelta(minutes=15)
PENDING_UPLOAD_MESSAGE = (
    "Your image was made but could not be saved to the image store yet. "
    "It is kept safely on the server and the upload will be retried."
)
INTERRUPTED_MESSAGE = "This generation was interrupted by a server restart. Please run it again."
INTERNAL_MESSAGE = "Something went wrong on our side while making this image. Please try again."


def runner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_of_day_utc(now: datetime | None = None) -> datetime:
    now = now or utcnow()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


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
        store: ImageStore,
        spool: Spool,
        *,
        default_daily_quota: int,
        jobs: JobRunner | None = None,
    ) -> None:
        self.sessions = sessions
        self.generator = generator
        self.store = store
        self.spool = spool
        self.default_daily_quota = default_daily_quota
        self.jobs = jobs or JobRunner()

    # -- quota -------------------------------------------------------------------------------------------------
    def quota_for(self, session: Session, user: User) -> int:
        if user.daily_quota is not None:
            return user.daily_quota
        admin_default = preferences.get(session, "default_daily_quota")
        return int(admin_default) if admin_default is not None else self.default_daily_quota

    def used_today(self, session: Session, user_id: int) -> int:
        return session.scalar(
            select(func.count(Generation.id)).where(
                Generation.user_id == user_id,
                Generation.created_at >= start_of_day_utc(),
                Generation.status.in_(COUNTED_STATUSES),
            )
        ) or 0

    def daily_usage(self, user_id: int) -> tuple[int, int]:
        """(used today, daily quota) for the user."""
        with self.sessions() as session:
            user = self._user(session, user_id)
            return self.used_today(session, user_id), self.quota_for(session, user)

    # -- submitting ----------------------------------------------------------------------------------------------
    def submit(self, user_id: int, request: GenerationRequest) -> int:
        """Validate, check the quota and record the attempt; generation runs in the background. Returns its id."""
        clean = validate(request)
        with self.sessions.begin() as session:
            user = self._user(session, user_id)
            if not user.enabled:
                raise PermissionDenied("This account is disabled. Ask your administrator.")
            used, quota = self.used_today(session, user_id), self.quota_for(session, user)
            if used >= quota:
                raise QuotaExceeded(
                    f"You have used all {quota} of today's generations. Your quota resets at 00:00 UTC; "
                    "ask your administrator if you need more."
                )
            row = Generation(
                user_id=user_id,
                prompt=clean.prompt,
                steps=clean.steps,
                seed=clean.seed,
                model=self.generator.model,
                generator=self.generator.name,
                store=self.store.name,
                status="queued",
                runner=runner_id(),
                is_public=clean.is_public,
            )
            session.add(row)
            session.flush()
            generation_id = row.id
        self.jobs.submit(generation_id, lambda: self.run(generation_id))
        return generation_id

    def generate(self, user_id: int, request: GenerationRequest, timeout: float | None = None) -> GenerationRecord:
        """Submit and wait: what the command line uses."""
        generation_id = self.submit(user_id, request)
        self.jobs.wait(generation_id, timeout)
        return self.get(generation_id)

    def wait(self, generation_id: int, timeout: float | None = None) -> GenerationRecord:
        self.jobs.wait(generation_id, timeout)
        return self.get(generation_id)

    def get(self, generation_id: int) -> GenerationRecord:
        with self.sessions() as session:
            found = session.execute(
                select(Generation, User.username).join(User).where(Generation.id == generation_id)
            ).first()
            if found is None:
                raise NotFound("That image does not exist.")
            return GenerationRecord.from_row(found[0], found[1])

    # -- running -----------------------------------------------------------------------------------------------
    def run(self, generation_id: int) -> None:
        """The background part. Never raises: every outcome is written to the row."""
        try:
            self._run(generation_id)
        except Exception:  # a bug must not leave the row 'running' for ever
            log.exception("generation %s crashed", generation_id)
            self._finish(generation_id, status="failed", error_reason="internal", error_message=INTERNAL_MESSAGE)

    def _run(self, generation_id: int) -> None:
        with self.sessions.begin() as session:
            row = session.get(Generation, generation_id)
            if row is None or row.status != "queued":
                return
            row.status, row.started_at, row.runner = "running", utcnow(), runner_id()
            prompt, steps, seed, owner = row.prompt, row.steps, row.seed, row.user.username

        started = time.perf_counter()
        try:
            image = self.generator.generate(prompt, steps=steps, seed=seed)
        except AkariError as exc:
            log.warning("generation %s failed: %s", generation_id, exc.log_line())
            self._finish(
                generation_id,
                status="failed",
                error_reason=exc.reason,
                error_code=exc.code,
                error_message=exc.message,
                error_detail=exc.detail,
                generate_ms=_ms_since(started),
            )
            return
        generate_ms = _ms_since(started)
        neurons = neurons_for(steps, image.width, image.height) if image.generator == "cloudflare" else 0.0

        stored_at = time.perf_counter()
        try:
            stored = self.store.save(image.data, fmt=image.format, prompt=prompt, owner=owner,
                                     generation_id=generation_id)
        except Exception as exc:
            self._keep_for_retry(generation_id, image, exc, generate_ms, neurons)
            return
        self._finish(
            generation_id,
            status="succeeded",
            generate_ms=generate_ms,
            store_ms=_ms_since(stored_at),
            neurons=neurons,
            **_stored_columns(stored),
        )

    def _keep_for_retry(self, generation_id: int, image: GeneratedImage, exc: Exception, generate_ms: int,
                        neurons: float) -> None:
        """The image was paid for: keep it in the spool and mark the row for a later upload."""
        self.spool.put(generation_id, image.data, image.format)
        detail = exc.log_line() if isinstance(exc, AkariError) else repr(exc)
        log.warning("generation %s stored in the spool, upload failed: %s", generation_id, detail)
        self._finish(
            generation_id,
            status="pending_upload",
            error_reason=getattr(exc, "reason", "store_failed"),
            error_code=getattr(exc, "code", None),
            error_message=PENDING_UPLOAD_MESSAGE,
            error_detail=detail,
            generate_ms=generate_ms,
            neurons=neurons,
            image_format=image.format,
            width=image.width,
            height=image.height,
            bytes=len(image.data),
        )

    def _finish(self, generation_id: int, **columns: object) -> None:
        with self.sessions.begin() as session:
            session.execute(
                update(Generation)
                .where(Generation.id == generation_id)
                .values(finished_at=utcnow(), **columns)
            )

    # -- recovery ----------------------------------------------------------------------------------------------
    def retry_uploads(self) -> RetryReport:
        """Upload every spooled image; rows become 'succeeded' as their upload goes through."""
        report = RetryReport()
        with self.sessions() as session:
            pending = session.execute(
                select(Generation.id, Generation.prompt, User.username)
                .join(User)
                .where(Generation.status == "pending_upload")
                .order_by(Generation.id)
            ).all()
        for generation_id, prompt, owner in pending:
            spooled = self.spool.get(generation_id)
            if spooled is None:
                report.missing.append(generation_id)
                self._finish(generation_id, status="failed", error_reason="spool_missing",
                             error_message="The image waiting for upload was lost from the server's spool folder.")
                continue
            data, fmt = spooled
            started = time.perf_counter()
            try:
                stored = self.store.save(data, fmt=fmt, prompt=prompt, owner=owner, generation_id=generation_id)
            except Exception as exc:
                report.still_pending[generation_id] = str(exc)
                continue
            self._finish(generation_id, status="succeeded", error_reason=None, error_code=None, error_message=None,
                         error_detail=None, store_ms=_ms_since(started), **_stored_columns(stored))
            self.spool.remove(generation_id)
            report.stored.append(generation_id)
        return report

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

    def recover_interrupted(self) -> int:
        """Mark rows left queued/running by a crashed process as failed. Returns how many."""
        now = utcnow()
        host = socket.gethostname()
        with self.sessions.begin() as session:
            rows = session.execute(
                select(Generation.id, Generation.runner, Generation.created_at).where(
                    Generation.status.in_(ACTIVE_STATUSES)
                )
            ).all()
            dead = [gid for gid, runner, created in rows if _is_dead(runner, created, host, now)]
            if dead:
                session.execute(
                    update(Generation)
                    .where(Generation.id.in_(dead), Generation.status.in_(ACTIVE_STATUSES))
                    .values(status="failed", error_reason="interrupted", error_message=INTERRUPTED_MESSAGE,
                            finished_at=now)
                )
        return len(dead)

    def image_bytes(self, record: GenerationRecord) -> bytes:
        """The full image, from the store or, while its upload is pending, from the spool."""
        if record.status == "pending_upload":
            spooled = self.spool.get(record.id)
            if spooled is not None:
                return spooled[0]
        if not record.image_url:
            raise NotFound("This generation has no image.")
        return self.store.read(record.image_url)

    def _user(self, session: Session, user_id: int) -> User:
        user = session.get(User, user_id)
        if user is None:
            raise NotFound("That account does not exist.")
        return user


def _is_dead(runner: str | None, created: datetime, host: str, now: datetime) -> bool:
    if now - created > STALE_AFTER:
        return True
    if runner is None:
        return False
    runner_host, _, pid = runner.rpartition(":")
    if runner_host == host and pid.isdigit():
        return int(pid) != os.getpid() and not _pid_alive(int(pid))
    return False


def _stored_columns(stored: StoredImage) -> dict[str, object]:
    return {
        "image_key": stored.key,
        "image_url": stored.url,
        "thumbnail_url": stored.thumbnail_url,
        "image_format": stored.format,
        "width": stored.width,
        "height": stored.height,
        "bytes": stored.bytes,
    }


def _ms_since(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)

