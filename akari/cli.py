"""The command line: `python -m akari generate|retry-uploads|db ...`."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

from akari.errors import AkariError
from akari.prompts import DEFAULT_STEPS, GenerationRequest
from akari.records import GenerationRecord
from akari.studio import Studio

CLI_USER = "cli"
Command = Callable[[argparse.Namespace], int]


def _open_studio() -> Studio:
    return Studio.open()


def _record_json(record: GenerationRecord) -> dict[str, object]:
    return {
        "id": record.id,
        "status": record.status,
        "url": record.image_url,
        "thumbnail_url": record.thumbnail_url,
        "width": record.width,
        "height": record.height,
        "format": record.image_format,
        "seed": record.seed,
        "steps": record.steps,
        "prompt": record.prompt,
        "user": record.username,
        "generator": record.generator,
        "model": record.model,
        "store": record.store,
        "neurons": record.neurons,
        "timings": {"generate_ms": record.generate_ms, "store_ms": record.store_ms, "total_ms": record.total_ms},
        "error": None
        if record.status == "succeeded"
        else {"reason": record.error_reason, "code": record.error_code, "message": record.error_message},
    }


def cmd_generate(args: argparse.Namespace) -> int:
    studio = _open_studio()
    try:
        if args.user == CLI_USER:
            user_id = studio.ensure_service_user(CLI_USER)
        else:
            user_id = studio.user_id(args.user)
            if user_id is None:
                raise AkariError(f"No account is named {args.user!r}. Create it with: python -m akari users add NAME")
        request = GenerationRequest(prompt=args.prompt, steps=args.steps, seed=args.seed, is_public=args.public)
        record = studio.generations.generate(user_id, request)
    finally:
        studio.close()
    if args.json:
        print(json.dumps(_record_json(record), default=str, indent=2))
    if record.status == "failed":
        print(f"error: {record.error_message}", file=sys.stderr)
        return 1
    if not args.json:
        kind = "offline sketch (not AI)" if record.is_offline_sketch else record.model
        print(f"Image #{record.id}: {record.width}x{record.height} {record.image_format}, {kind}, "
              f"seed {record.seed}, {record.steps} steps, {record.total_ms} ms")
        print(record.image_url or "")
        if record.status == "pending_upload":
            print(f"note: {record.error_message} Run: python -m akari retry-uploads", file=sys.stderr)
    return 0


def cmd_retry_uploads(_args: argparse.Namespace) -> int:
    studio = _open_studio()
    try:
        report = studio.generations.retry_uploads()
    finally:
        studio.close()
    print(f"Uploaded {len(report.stored)}; still waiting {len(report.still_pending)}; lost {len(report.missing)}.")
    for generation_id, reason in report.still_pending.items():
        print(f"  #{generation_id}: {reason}", file=sys.stderr)
    return 0 if not report.still_pending and not report.missing else 1


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    from akari.config import load_settings
    from akari.db import migrate
    from akari.db.engine import make_engine

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    print(f"Database {settings.database_label}: {before or 'empty'} -> {after}")
    return 0


def cmd_db_current(_args: argparse.Namespace) -> int:
    from akari.config import load_settings
    from akari.db import migrate
    from akari.db.engine import make_engine

    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        print(f"{migrate.current_revision(engine) or 'empty'} (latest: {migrate.head_revision()})")
    finally:
        engine.dispose()
    return 0


def _steps(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"steps must be a whole number from 1 to 8, not {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m akari", description="Akari text-to-image studio.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser("generate", help="make one image from a prompt")
    gen.add_argument("prompt")
    gen.add_argument("--steps", type=_steps, default=DEFAULT_STEPS, help="1-8, default 4 (more: finer, costlier)")
    gen.add_argument("--seed", type=int, default=None, help="fix the seed to reproduce an image (default: random)")
    gen.add_argument("--user", default=CLI_USER, help="the account to record it under (default: cli)")
    gen.add_argument("--public", action="store_true", help="share it to the community gallery")
    gen.add_argument("--json", action="store_true", help="print the result as JSON")
    gen.set_defaults(func=cmd_generate)

    retry = sub.add_parser("retry-uploads", help="upload images that were made but could not be stored")
    retry.set_defaults(func=cmd_retry_uploads)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply pending migrations").set_defaults(func=cmd_db_upgrade)
    db_sub.add_parser("current", help="show the schema revision").set_defaults(func=cmd_db_current)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except AkariError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2 if exc.reason == "config" else 1
    except KeyboardInterrupt:
        return 130
