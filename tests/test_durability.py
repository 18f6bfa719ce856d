"""The queue under races and crashes: quotas hold, kill -9 loses no paid image, uploads happen once, leases hold.

Everything here runs for real: threads released together by a barrier, worker processes killed with SIGKILL at a
chosen moment, two command-line processes at once, a database connection cut by a proxy, a disk that fills up.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.engine import make_url

from akari.config import load_settings
from akari.db.models import Generation, Instance, User, utcnow
from akari.errors import QuotaExceeded
from akari.generators import GeneratedImage
from akari.generators.offline import OfflineGenerator
from akari.prompts import GenerationRequest
from akari.queue import LiveInstance
from akari.studio import Studio
from tests.crash_harness import MOMENTS
from tests.db_fixtures import postgres_schema_url
from tests.fakes.cloudinary_server import FakeCloudinary
from tests.fakes.gated_generator import GatedGenerator
from tests.fakes.tcp_proxy import TcpProxy
from tests.fakes.workers_ai import FakeWorkersAI, render_jpeg
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SIDE = 256  # small fake images: these tests are about bookkeeping, not pixels


class OrderedGenerator(OfflineGenerator):
    """Remembers the order in which prompts were run."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def generate(self, prompt: str, *, steps: int, seed: int, deadline: float | None = None) -> GeneratedImage:
        self.order.append(prompt)
        return super().generate(prompt, steps=steps, seed=seed)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from postgres_schema_url()


@pytest.fixture
def fakes() -> Iterator[tuple[FakeWorkersAI, FakeCloudinary]]:
    with FakeWorkersAI(image_size=IMAGE_SIDE) as workers_ai, FakeCloudinary() as cloudinary:
        yield workers_ai, cloudinary


def _env(data_dir: Path, database_url: str, *providers: object, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDFLARE_", "CLOUDINARY_", "AKARI_"))}
    env.update({"AKARI_DATA_DIR": str(data_dir), "AKARI_DATABASE_URL": database_url, "AKARI_LEASE_SECONDS": "2",
                "AKARI_UPLOAD_RETRY_SECONDS": "0.2", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"})
    for provider in providers:
        env.update(provider.env())  # type: ignore[attr-defined]
    env.update(extra)
    return env


def _studio(env: dict[str, str], **kwargs: object) -> Studio:
    return Studio.open(load_settings(env=env), **kwargs)  # type: ignore[arg-type]


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def _statuses(studio: Studio) -> dict[str, str]:
    with studio.sessions() as session:
        return {prompt: status for prompt, status in session.execute(select(Generation.prompt, Generation.status))}


# -- quotas under races ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("quota", "submits"), [(5, 20), (1, 8)])
def test_parallel_submits_accept_exactly_what_is_left_of_the_quota(database_url: str, tmp_path: Path, quota: int,
                                                                    submits: int) -> None:
    studio = _studio(_env(tmp_path / "data", database_url))
    try:
        user_id = studio.ensure_service_user("ada")
        with studio.session() as session:
            session.execute(update(User).where(User.id == user_id).values(daily_quota=quota))
        barrier = threading.Barrier(submits)

        def submit(n: int) -> str:
            barrier.wait()
            try:
                studio.generations.submit(user_id, GenerationRequest(prompt=f"race {n}"))
            except QuotaExceeded:
                return "refused"
            return "accepted"

        with ThreadPoolExecutor(submits) as pool:
            results = Counter(pool.map(submit, range(submits)))
        assert results == {"accepted": quota, "refused": submits - quota}
        assert studio.quotas.daily_usage(user_id).used == quota
    finally:
        studio.close()


def test_parallel_submits_from_two_processes_accept_exactly_the_quota(database_url: str, tmp_path: Path) -> None:
    env = _env(tmp_path / "data", database_url)
    studio = _studio(env)
    try:
        user_id = studio.ensure_service_user("ada")
        with studio.session() as session:
            session.execute(update(User).where(User.id == user_id).values(daily_quota=7))
        go = tmp_path / "go"
        outputs = [subprocess.Popen([sys.executable, "-m", "tests.submit_harness", "ada", "10", "--threads", "10",
                                     "--go", str(go)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
                   for _ in range(2)]
        go.write_text("go")
        reports = [json.loads(process.communicate(timeout=120)[0].strip().splitlines()[-1]) for process in outputs]
        accepted = sum(len(r["accepted"]) for r in reports)
        refused = sum(r["refused"].get("quota", 0) for r in reports)
        assert (accepted, refused) == (7, 13)
        assert studio.quotas.daily_usage(user_id).used == 7
    finally:
        studio.close()


# -- crashes -----------------------------------------------------------------------------------------------------------
def test_kill_9_at_every_moment_then_a_restart_loses_no_paid_image(database_url: str, tmp_path: Path,
                                                                   fakes) -> None:
    workers_ai, cloudinary = fakes
    env = _env(tmp_path / "data", database_url, workers_ai, cloudinary)
    parent = _studio(env)
    markers, log = tmp_path / "markers", tmp_path / "workers.log"
    try:
        user_id = parent.ensure_service_user("ada")
        # Two moments are a request in flight at a provider; the others are points inside the pipeline.
        moments = ("provider", "upload", *MOMENTS)
        for moment in moments:
            parent.generations.submit(user_id, GenerationRequest(prompt=f"a lighthouse [{moment}]"))
        workers_ai.hold("[provider]")
        cloudinary.hold("[upload]")
        first = _spawn(["tests.crash_harness", str(markers), "--pause"], env, log)

        def in_flight() -> bool:
            return (any("[provider]" in str((r.json or {}).get("prompt")) for r in workers_ai.runs())
                    and any("[upload]" in r.fields.get("context", "") for r in cloudinary.api_requests("upload")))

        assert eventually(lambda: all((markers / m).exists() for m in MOMENTS) and in_flight(), timeout=60), \
            log.read_text()
        # While it lives, its leases hold: another process's recovery leaves every row alone.
        me = LiveInstance(parent.sessions, kind="cli", workers=0, lease_seconds=2).register()
        try:
            assert parent.generations.queue.recover(me) == 0
        finally:
            me.close()

        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        workers_ai.release("[provider]")
        cloudinary.release("[upload]")  # the upload in flight lands late, after its process died
        second = _spawn(["tests.crash_harness", str(markers)], env, log)
        try:
            assert eventually(lambda: set(_statuses(parent).values()) == {"succeeded"}, timeout=90), \
                (_statuses(parent), log.read_text())
            assert eventually(lambda: not any(parent.spool.root.iterdir()), timeout=30)
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=60)
        with parent.sessions() as session:
            rows = session.execute(select(Generation.prompt, Generation.seed, Generation.image_key,
                                          Generation.lease_owner, Generation.spool_key)).all()
        # Exactly one stored image per generation (a repeated upload replaced the first), each the fake's own bytes.
        assert sorted(cloudinary.uploads) == sorted(key for _p, _s, key, _o, _k in rows)
        for prompt, seed, key, owner, spool_key in rows:
            assert cloudinary.uploads[key].data == render_jpeg(prompt, seed, IMAGE_SIDE), prompt
            assert owner is None and spool_key is None
        # Paid once: only the two that died before their image was kept were made again.
        calls = Counter(str((r.json or {}).get("prompt")) for r in workers_ai.runs())
        assert {prompt: calls[prompt] for prompt, *_ in rows} == {
            f"a lighthouse [{m}]": 2 if m in ("provider", "after-provider") else 1 for m in moments}
    finally:
        parent.close()


def test_two_retry_uploads_at_once_upload_each_image_once(database_url: str, tmp_path: Path, fakes) -> None:
    workers_ai, cloudinary = fakes
    env = _env(tmp_path / "data", database_url, workers_ai, cloudinary, AKARI_UPLOAD_RETRY_SECONDS="3600")
    studio = _studio(env)
    try:
        studio.start_workers(4)
        user_id = studio.ensure_service_user("ada")
        cloudinary.fail_next(503, "Service Unavailable", times=5)
        ids = [studio.generations.submit(user_id, GenerationRequest(prompt=f"pending {n}")) for n in range(5)]
        assert {studio.generations.wait(i, timeout=30).status for i in ids} == {"pending_upload"}
        cloudinary.reset()
        cloudinary.latency = 0.5  # both commands are at work at the same time
        commands = [subprocess.Popen([sys.executable, "-m", "akari", "retry-uploads"], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [command.communicate(timeout=120) for command in commands]
        assert all(command.returncode == 0 for command in commands), outputs
        # The rows were made due: this process's own workers may be storing one of them still (a claim each way).
        assert {studio.generations.wait(i, timeout=30).status for i in ids} == {"succeeded"}
        assert sorted(cloudinary.uploads_by_name().values()) == [1] * 5
        assert "Traceback" not in "".join(out + err for out, err in outputs)
    finally:
        studio.close()


# -- leases ------------------------------------------------------------------------------------------------------------
def _leased_row(studio: Studio, owner: str, **values: object) -> int:
    user_id = studio.ensure_service_user("ada")
    with studio.session() as session:
        row = Generation(user_id=user_id, prompt="held", steps=4, seed=1, model="m", generator="offline",
                         store="local", status="running", lease_owner=owner, asset_token="t", **values)
        session.add(row)
        session.flush()
        return row.id


def test_a_pid_reused_after_a_restart_still_recovers(database_url: str, tmp_path: Path) -> None:
    """A container restarts with the same pid (PID 1): the old instance is recognised as gone at once."""
    studio = _studio(_env(tmp_path / "data", database_url))
    me = LiveInstance(studio.sessions, kind="app", workers=1, lease_seconds=600).register()
    try:
        with studio.session() as session:
            session.add(Instance(id="before-restart", host=socket.gethostname(), pid=os.getpid(), kind="app",
                                 workers=4, started_at=utcnow(), heartbeat_at=utcnow()))
        row_id = _leased_row(studio, "before-restart")
        assert studio.generations.queue.recover(me) == 1
        assert studio.generations.get(row_id).status == "queued"
    finally:
        me.close()
        studio.close()


def test_a_live_job_of_another_instance_is_never_touched(database_url: str, tmp_path: Path) -> None:
    studio = _studio(_env(tmp_path / "data", database_url))
    other = LiveInstance(studio.sessions, kind="worker", workers=1, lease_seconds=0.5)
    other.host = "another-machine"
    other.register()  # beats every eighth of a second
    me = LiveInstance(studio.sessions, kind="app", workers=1, lease_seconds=0.5).register()
    try:
        row_id = _leased_row(studio, other.id)
        assert not eventually(lambda: studio.generations.queue.recover(me) > 0, timeout=2.0)  # four leases long
        record = studio.generations.get(row_id)
        assert record.status == "running"
        other.close()  # it stops beating: now its row is taken back
        assert eventually(lambda: studio.generations.queue.recover(me) > 0, timeout=5)
        assert studio.generations.get(row_id).status == "queued"
    finally:
        me.close()
        studio.close()


def test_a_row_whose_worker_keeps_dying_is_given_up(database_url: str, tmp_path: Path) -> None:
    studio = _studio(_env(tmp_path / "data", database_url))
    me = LiveInstance(studio.sessions, kind="app", workers=1, lease_seconds=600).register()
    try:
        row_id = _leased_row(studio, "gone", attempts=3)
        spooled_id = _leased_row(studio, "gone", attempts=3, spool_key="9.jpg", spool_host=socket.gethostname())
        studio.generations.queue.recover(me)
        failed = studio.generations.get(row_id)
        assert (failed.status, failed.error_reason) == ("failed", "interrupted")
        assert studio.generations.get(spooled_id).status == "pending_upload"  # a kept image is never given up
    finally:
        me.close()
        studio.close()


def test_one_users_batch_does_not_starve_another_users_single_image(database_url: str, tmp_path: Path) -> None:
    generator = OrderedGenerator()
    studio = _studio(_env(tmp_path / "data", database_url), generator=generator)
    try:
        ada, bea = studio.ensure_service_user("ada"), studio.ensure_service_user("bea")
        ids = [studio.generations.submit(ada, GenerationRequest(prompt=f"ada {n}")) for n in range(6)]
        ids.append(studio.generations.submit(bea, GenerationRequest(prompt="bea alone")))
        studio.start_workers(1)
        assert {studio.generations.wait(i, timeout=60).status for i in ids} == {"succeeded"}
        assert generator.order.index("bea alone") == 1  # straight after the batch's first, not after all six
    finally:
        studio.close()


# -- outages -----------------------------------------------------------------------------------------------------------
@pytest.mark.postgres
def test_postgresql_down_mid_run_leaves_no_stuck_row(tmp_path: Path, postgres_url: str) -> None:
    url = make_url(postgres_url)
    with TcpProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
        generator = GatedGenerator()
        studio = _studio(_env(tmp_path / "data", url.set(port=proxy.port).render_as_string(hide_password=False)),
                         generator=generator)
        try:
            studio.start_workers(1)
            user_id = studio.ensure_service_user("ada")
            generation_id = studio.generations.submit(user_id, GenerationRequest(prompt="through an outage"))
            assert generator.started.wait(20)
            proxy.cut()  # the database is gone while the image is being made
            generator.release.set()
            threading.Timer(2.0, proxy.restore).start()
            assert eventually(lambda: _status_or_none(studio, generation_id) == "succeeded", timeout=60)
            record = studio.generations.get(generation_id)
            assert record.spool_key is None and record.image_key
        finally:
            proxy.restore()
            studio.close()


def _status_or_none(studio: Studio, generation_id: int) -> str | None:
    try:
        return studio.generations.get(generation_id).status
    except Exception:
        return None


@pytest.mark.postgres
def test_two_processes_with_160_generations_each_of_one_user_on_postgresql_all_succeed(tmp_path: Path, fakes,
                                                                                        postgres_url: str) -> None:
    """The usage summaries once deadlocked such runs; they must all succeed, and the figures stay exact."""
    workers_ai, _cloudinary = fakes
    for url in (postgres_url,):
        env = _env(tmp_path / "data", url, workers_ai, AKARI_STORE="local", AKARI_WORKERS="8")
        studio = _studio(env)
        try:
            user_id = studio.ensure_service_user("ada")
            with studio.session() as session:
                session.execute(update(User).where(User.id == user_id).values(daily_quota=1000))
            go = tmp_path / "go"
            processes = [subprocess.Popen([sys.executable, "-m", "tests.submit_harness", "ada", "160", "--threads",
                                           "4", "--go", str(go), "--workers", "8", "--wait"], cwd=ROOT, env=env,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                         for _ in range(2)]
            go.write_text("go")
            outputs = [process.communicate(timeout=600) for process in processes]
            reports = [json.loads(out.strip().splitlines()[-1]) for out, _err in outputs]
            assert [r["statuses"] for r in reports] == [{"succeeded": 160}] * 2, [err[-3000:] for _o, err in outputs]
            assert "deadlock" not in "".join(err for _o, err in outputs).lower()
            from akari.usage import Usage, UsageFilter

            class Admin:
                id = user_id

            figures = Usage(studio).report(Admin(), UsageFilter.last_days(1, user_id)).headline
            assert (figures.generations, figures.succeeded, figures.failed) == (320, 320, 0)
        finally:
            studio.close()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[[Path, str], Path]]:
    """Mount a small tmpfs at a path: a disk that really fills up (ENOSPC), unmounted afterwards."""
    mounted: list[Path] = []

    def mount(path: Path, size: str = "2m") -> Path:
        path.mkdir(parents=True, exist_ok=True)
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                                capture_output=True, text=True)
        if result.returncode != 0:
            reason = f"cannot mount a small disk here: {result.stderr.strip()}"
            if os.environ.get("CI") == "true":
                pytest.fail(reason)
            pytest.skip(reason)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _fill(disk: Path) -> Path:
    """Write a file until the disk is full; remove it to free the space again."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        try:
            while True:
                out.write(b"\0" * 65536)
                out.flush()
        except OSError:
            pass
    return filler


def test_sqlite_disk_full_mid_run_leaves_no_stuck_row(tmp_path: Path, small_disk) -> None:
    disk = small_disk(tmp_path / "db-disk", "4m")
    generator = GatedGenerator()
    studio = _studio(_env(tmp_path / "data", f"sqlite:///{disk / 'akari.db'}"), generator=generator)
    try:
        studio.start_workers(1)
        user_id = studio.ensure_service_user("ada")
        generation_id = studio.generations.submit(user_id, GenerationRequest(prompt="a full disk"))
        assert generator.started.wait(20)
        with studio.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the next write must grow a file
        filler = _fill(disk)
        generator.release.set()
        assert not eventually(lambda: studio.generations.get(generation_id).status != "running", timeout=2)
        filler.unlink()  # space again: the write that was waiting goes through
        assert eventually(lambda: studio.generations.get(generation_id).status == "succeeded", timeout=60)
        assert studio.images.read(studio.generations.get(generation_id))[:3] == b"\xff\xd8\xff"
    finally:
        studio.close()


@pytest.mark.parametrize("store_works", [True, False])
def test_a_full_spool_disk_stores_straight_away_or_fails_with_its_own_reason(tmp_path: Path, small_disk,
                                                                             store_works: bool) -> None:
    data = tmp_path / "data"
    _fill(small_disk(data / "spool", "1m"))
    env = _env(data, f"sqlite:///{tmp_path / 'akari.db'}")
    if not store_works:
        env["AKARI_STORE"] = "cloudinary"
        env["CLOUDINARY_URL"] = "cloudinary://key:secret@cloud?upload_prefix=http://127.0.0.1:9"  # nothing there
    studio = _studio(env)
    try:
        studio.start_workers(1)
        user_id = studio.ensure_service_user("ada")
        record = studio.generations.generate(user_id, GenerationRequest(prompt="nowhere to keep it"), timeout=60)
        if store_works:
            assert record.status == "succeeded"  # kept in the store directly: nothing lost
        else:
            assert (record.status, record.error_reason) == ("failed", "spool_full")
            assert "no disk space" in (record.error_message or "")
    finally:
        studio.close()
