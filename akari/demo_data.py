"""Synthetic generations for demos and benchmarks: several users, months of history, a realistic failure mix."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from sqlalchemy import Engine, select, text

from akari.db.engine import make_session_factory
from akari.db.models import User, utcnow
from akari.errors import InvalidInput
from akari.generators.cloudflare import ERRORS
from akari.imaging import make_thumbnail
from akari.pricing import neurons_for
from akari.stores.local import THUMBNAIL_SUFFIX
from akari.summaries import add_to_summaries

MAX_ROWS = 20_000_000
BATCH_ROWS = 50_000
DEMO_FOLDER = "demo"
DEMO_BANNER = "DEMO DATA · stand-in picture"
FLUX_MODEL = "@cf/black-forest-labs/flux-1-schnell"
OFFLINE_MODEL = "akari-offline-sketch-v1"

USERNAMES = ("demo.ada", "demo.grace", "demo.linus", "demo.mika", "demo.noor", "demo.sven", "demo.yuki", "demo.ravi",
             "demo.lena", "demo.omar", "demo.ines", "demo.tomas")
ADJECTIVES = ("a tiny", "an ancient", "a curious", "a majestic", "a lonely", "a cheerful", "a mechanical",
              "a glowing", "a sleepy", "a giant", "a paper", "a crystal", "a rusty", "a friendly", "a forgotten")
SUBJECTS = ("lighthouse", "red fox", "owl", "robot", "cat", "koi fish", "dragon", "astronaut", "castle",
            "tea house", "sailboat", "whale", "tiger", "hummingbird", "samurai", "old fisherman", "ballerina",
            "bicycle", "treehouse", "train station", "library", "hot air balloon", "jellyfish", "windmill",
            "violin", "greenhouse", "submarine", "fox cub", "wolf", "bonsai tree")
# Each place has one pre-rendered sketch, so a card's picture roughly matches its prompt.
PLACES = ("on a cliff above the sea", "in a neon city at night", "in a misty forest", "among the stars",
          "in the desert", "under the ocean waves", "on a snowy mountain", "in a sunlit meadow",
          "on a rainy street in tokyo", "at the edge of a purple nebula", "by a quiet lake", "in golden hills")
LIGHTS = ("at golden hour", "at sunset", "under moonlight", "in soft morning light", "during a thunderstorm",
          "with glowing lanterns", "in dramatic light", "in thick fog", "at dawn", "at blue hour")
STYLES = ("", ", watercolour painting", ", oil painting", ", cinematic still, film grain", ", pixel art",
          ", 3D render", ", anime illustration", ", professional photograph, 50mm lens", ", ink sketch",
          ", low poly", "", "")
STEP_CHOICES = np.arange(1, 9)
STEP_WEIGHTS = np.array([0.05, 0.06, 0.06, 0.55, 0.08, 0.08, 0.04, 0.08])
# Cloudflare failures as they show up in practice: the safety filter and capacity dominate.
FAILURE_MIX = (("3030", 0.44), ("3040", 0.24), ("3007", 0.14), ("3036", 0.08), ("network", 0.05),
               ("interrupted", 0.03), ("10000", 0.02))
FAILURE_RATE = 0.085
OFFLINE_SHARE = 0.15
PUBLIC_SHARE = 0.25
FAVOURITE_SHARE = 0.05
DELETED_SHARE = 0.01
_NETWORK_MESSAGE = "The image service could not be reached. Please try again."
_INTERRUPTED_MESSAGE = "This generation was interrupted by a server restart. Please run it again."

COLUMNS = ("user_id", "prompt", "steps", "seed", "model", "generator", "store", "status", "error_reason",
           "error_code", "error_message", "error_detail", "image_key", "image_url", "thumbnail_url", "image_format",
           "width", "height", "bytes", "neurons", "generate_ms", "store_ms", "source", "is_public", "is_favourite",
           "created_at", "started_at", "finished_at", "deleted_at")


@dataclass(frozen=True)
class DemoImage:
    key: str  # in the read-only "demo" store, shared by many rows
    bytes: int


@dataclass(frozen=True)
class DemoReport:
    rows: int
    users: tuple[str, ...]
    seconds: float


def demo_images(images_dir: Path) -> list[DemoImage]:
    """One small picture per place, made once under the image folder in the local store's layout."""
    folder = Path(images_dir) / DEMO_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for index, place in enumerate(PLACES):
        original = folder / f"place-{index:02d}.jpg"
        thumb = folder / f"place-{index:02d}{THUMBNAIL_SUFFIX}"
        if not original.exists() or not thumb.exists():
            data = _sketch(f"{SUBJECTS[index]} {place}", seed=index)
            original.write_bytes(data)
            thumb.write_bytes(make_thumbnail(data))
        images.append(DemoImage(f"{DEMO_FOLDER}/{original.name}", original.stat().st_size))
    return images


def _sketch(prompt: str, seed: int) -> bytes:
    """The offline renderer's picture, shrunk (demo files stay small and need no network), with a banner that says
    it stands in for the demo rows' images."""
    from akari.generators.offline import OfflineGenerator

    image = OfflineGenerator().generate(prompt, steps=4, seed=seed)
    with Image.open(io.BytesIO(image.data)) as img:
        small = img.convert("RGB").resize((512, 512), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(small)
    font = ImageFont.load_default(size=22)
    draw.rectangle((0, 0, 512, 40), fill=(20, 20, 24))
    draw.text((12, 8), DEMO_BANNER, font=font, fill=(255, 200, 80))
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=85)
    return out.getvalue()


def ensure_users(engine: Engine, count: int) -> list[int]:
    """The demo accounts, created if missing. They have no password, so nobody can sign in as them."""
    if not 1 <= count <= len(USERNAMES):
        raise InvalidInput(f"Demo data has 1 to {len(USERNAMES)} users (you asked for {count}).")
    names = USERNAMES[:count]
    with make_session_factory(engine).begin() as session:
        existing = {u.username: u for u in session.scalars(select(User).where(User.username.in_(names)))}
        for name in names:
            if name not in existing:
                user = User(username=name, name=name.split(".", 1)[1].title(), email="", roles=["member"],
                            password_hash=None)
                session.add(user)
                existing[name] = user
        session.flush()
        return [existing[name].id for name in names]


def fill(engine: Engine, images_dir: Path, rows: int, *, users: int = 8, days: int = 180, seed: int = 7,
         now: datetime | None = None) -> DemoReport:
    """Append `rows` synthetic generations spread over the last `days` days. Ids grow with time, as in real use."""
    if not 1 <= rows <= MAX_ROWS:
        raise InvalidInput(f"Demo data takes 1 to {MAX_ROWS:,} rows (you asked for {rows:,}).")
    if not 1 <= days <= 3650:
        raise InvalidInput(f"Demo data spans 1 to 3,650 days (you asked for {days}).")
    started = time.perf_counter()
    user_ids = ensure_users(engine, users)
    images = demo_images(images_dir)
    now = now or utcnow()
    batches = _batches(rows, user_ids, images, days, seed, now, text_times=engine.dialect.name == "sqlite")
    if engine.dialect.name == "sqlite":
        _load_sqlite(engine, batches)
    elif engine.dialect.name == "postgresql":
        _load_postgresql(engine, batches)
    else:
        raise InvalidInput(f"Demo data supports SQLite and PostgreSQL, not {engine.dialect.name}.")
    return DemoReport(rows=rows, users=USERNAMES[:users], seconds=time.perf_counter() - started)


# -- making rows -------------------------------------------------------------------------------------------------------
def _batches(rows: int, user_ids: Sequence[int], images: Sequence[DemoImage], days: int, seed: int,
             now: datetime, text_times: bool) -> Iterator[list[tuple[object, ...]]]:
    """Rows in time order, a batch at a time, so memory stays flat whatever `rows` is."""
    rng = np.random.default_rng(seed)
    start_us = int((now - timedelta(days=days)).replace(tzinfo=UTC).timestamp() * 1_000_000)
    span_us = days * 86_400_000_000
    # Sorted offsets for all rows would cost 8 bytes a row: draw each batch inside its own slice of time instead.
    chunks = max(1, -(-rows // BATCH_ROWS))
    user_weights = 1.0 / np.arange(1, len(user_ids) + 1) ** 0.8  # a few heavy users, a long tail
    user_weights /= user_weights.sum()
    users = np.asarray(user_ids)
    for chunk in range(chunks):
        n = min(BATCH_ROWS, rows - chunk * BATCH_ROWS)
        lo = start_us + span_us * chunk // chunks
        hi = start_us + span_us * (chunk + 1) // chunks
        yield _batch(rng, n, lo, hi, users, user_weights, images, text_times)


def _batch(rng: np.random.Generator, n: int, lo_us: int, hi_us: int, users: np.ndarray, user_weights: np.ndarray,
           images: Sequence[DemoImage], text_times: bool) -> list[tuple[object, ...]]:
    created_us = np.sort(rng.integers(lo_us, hi_us, size=n))
    steps_a = rng.choice(STEP_CHOICES, size=n, p=STEP_WEIGHTS)
    offline_a = rng.random(n) < OFFLINE_SHARE
    # FLUX schnell on Workers AI: about a second plus a quarter second a step, with a long tail.
    generate_a = np.where(
        offline_a,
        rng.normal(220, 50, size=n).clip(80, 900),
        (900 + 260 * steps_a) * rng.lognormal(0.0, 0.28, size=n),
    ).astype(np.int64)
    store_a = rng.integers(4, 40, size=n)
    stamp = _text_times if text_times else _datetimes
    created = stamp(created_us)
    started = stamp(created_us + 40_000)
    finished = stamp(created_us + 40_000 + (generate_a + store_a) * 1000)
    # Plain lists: indexing numpy arrays one element at a time is several times slower.
    user = rng.choice(users, size=n, p=user_weights).tolist()
    adjective = rng.integers(0, len(ADJECTIVES), size=n).tolist()
    subject = rng.integers(0, len(SUBJECTS), size=n).tolist()
    place = rng.integers(0, len(PLACES), size=n).tolist()
    light = rng.integers(0, len(LIGHTS), size=n).tolist()
    style = rng.integers(0, len(STYLES), size=n).tolist()
    seeds = rng.integers(0, 2**31, size=n).tolist()
    failed = (rng.random(n) < np.where(offline_a, 0.005, FAILURE_RATE)).tolist()
    failure = rng.choice(len(FAILURE_MIX), size=n, p=[w for _, w in FAILURE_MIX]).tolist()
    public = (rng.random(n) < PUBLIC_SHARE).tolist()
    favourite = (rng.random(n) < FAVOURITE_SHARE).tolist()
    deleted = (rng.random(n) < DELETED_SHARE).tolist()
    steps, offline = steps_a.tolist(), offline_a.tolist()
    generate_ms, store_ms = generate_a.tolist(), store_a.tolist()
    neurons = [neurons_for(s) for s in range(9)]
    failures = [_failure(kind, 0) for kind, _w in FAILURE_MIX]

    out: list[tuple[object, ...]] = []
    append = out.append
    for i in range(n):
        prompt = f"{ADJECTIVES[adjective[i]]} {SUBJECTS[subject[i]]} {PLACES[place[i]]} {LIGHTS[light[i]]}" \
                 f"{STYLES[style[i]]}"
        is_offline = offline[i]
        model, generator = (OFFLINE_MODEL, "offline") if is_offline else (FLUX_MODEL, "cloudflare")
        if failed[i]:
            reason, code, message, ms = _failure("interrupted", 0) if is_offline else failures[failure[i]]
            append((user[i], prompt, steps[i], seeds[i], model, generator, "demo", "failed", reason, code, message,
                    None, None, None, None, None, None, None, None, 0.0, ms or max(150, generate_ms[i] // 4),
                    None, "ui", False, False, created[i], started[i], finished[i], None))
            continue
        image = images[place[i]]
        append((user[i], prompt, steps[i], seeds[i], model, generator, "demo", "succeeded", None, None, None,
                None, image.key, None, None, "jpeg", 1024, 1024, image.bytes,
                0.0 if is_offline else neurons[steps[i]], generate_ms[i], store_ms[i], "ui", public[i],
                favourite[i], created[i], started[i], finished[i], finished[i] if deleted[i] else None))
    return out


def _failure(kind: str, generate_ms: int) -> tuple[str, str | None, str, int]:
    """(reason, provider code, the user's sentence, milliseconds until it failed)."""
    if kind == "network":
        return "network", None, _NETWORK_MESSAGE, 5_000
    if kind == "interrupted":
        return "interrupted", None, _INTERRUPTED_MESSAGE, generate_ms
    reason, _retryable, message = ERRORS[kind]
    if reason == "timeout":
        return reason, kind, message, 60_000
    return reason, kind, message, generate_ms  # 0: refused early, a quarter of a normal run


def _datetimes(micros: np.ndarray) -> list[datetime]:
    """Naive UTC datetimes, the way the models store them."""
    return np.asarray(micros, dtype="datetime64[us]").astype(datetime).tolist()


def _text_times(micros: np.ndarray) -> list[str]:
    """The text SQLAlchemy writes for DateTime on SQLite, so comparisons between strings order correctly."""
    return [s.replace("T", " ") for s in np.datetime_as_string(np.asarray(micros, dtype="datetime64[us]"))]


# -- loading -----------------------------------------------------------------------------------------------------------
def _load_sqlite(engine: Engine, batches: Iterator[list[tuple[object, ...]]]) -> None:
    """Plain sqlite3 executemany with the table's triggers off; search index and summaries caught up once after."""
    placeholders = ", ".join("?" for _ in COLUMNS)
    insert = f"INSERT INTO generations ({', '.join(COLUMNS)}) VALUES ({placeholders})"
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        cache_size = conn.execute("PRAGMA cache_size").fetchone()[0]
        conn.execute("PRAGMA synchronous=OFF")  # a failed load is simply run again
        conn.execute("PRAGMA cache_size=-65536")
        before = conn.execute("SELECT coalesce(max(id), 0) FROM generations").fetchone()[0]
        triggers = conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'generations'"
        ).fetchall()
        # Per-row triggers (search index, usage summaries) would make the load several times slower than
        # catching up once at the end with set-based statements.
        conn.execute("BEGIN")
        for name, _sql in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("COMMIT")
        try:
            for batch in batches:
                conn.execute("BEGIN")
                conn.executemany(insert, batch)
                conn.execute("COMMIT")
        finally:
            conn.execute("BEGIN")
            for _name, sql in triggers:
                conn.execute(sql)
            conn.execute("COMMIT")
            # Back to the engine's settings: this connection returns to the pool.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA cache_size={cache_size}")
    finally:
        raw.close()
    _catch_up(engine, before)


def _load_postgresql(engine: Engine, batches: Iterator[list[tuple[object, ...]]]) -> None:
    """COPY with the table's own triggers off for the load (inside the transaction), summaries caught up after."""
    with engine.connect() as conn:
        before = conn.execute(text("SELECT coalesce(max(id), 0) FROM generations")).scalar_one()
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cursor:
            cursor.execute("ALTER TABLE generations DISABLE TRIGGER USER")
            for batch in batches:
                with cursor.copy(f"COPY generations ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
            cursor.execute("ALTER TABLE generations ENABLE TRIGGER USER")
        conn.commit()
    finally:
        raw.close()
    _catch_up(engine, before)


def _catch_up(engine: Engine, after_id: int) -> None:
    """Index the prompts for search and add the new rows to the usage summaries."""
    with engine.begin() as conn:
        if conn.dialect.name == "sqlite" and conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE name = 'generations_fts'")
        ).first():
            # One rebuild reads the table in order and is several times faster than inserting the new rows.
            conn.execute(text("INSERT INTO generations_fts(generations_fts) VALUES ('rebuild')"))
        add_to_summaries(conn, after_id)
    if engine.dialect.name == "postgresql":
        # Fresh planner statistics: PostgreSQL chose slow plans for the new rows until autovacuum came round.
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
