"""The command line: `python -m akari generate|retry-uploads|users|demo-data|db ...`."""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from akari import logs
from akari.accounts import Accounts
from akari.config import Settings, load_settings
from akari.db import migrate
from akari.db.engine import make_engine, make_session_factory
from akari.db.transactions import translated
from akari.errors import AkariError, InvalidInput
from akari.models_catalog import ASPECTS, CATALOG
from akari.prompts import GenerationRequest
from akari.records import GenerationRecord
from akari.roles import ADMIN, MEMBER
from akari.stores.local import LocalStore
from akari.studio import Studio
from akari.tokens import Tokens

CLI_USER = "cli"
Command = Callable[[argparse.Namespace], int]


def _open_studio() -> Studio:
    return Studio.open()


def _locations(studio: Studio, record: GenerationRecord) -> tuple[str | None, str | None]:
    """Where the image and its thumbnail are: files on this machine for the local disk, else their URLs."""
    if not record.image_key or record.status != "succeeded":
        return None, None
    store = studio.stores.get(record.store)
    if isinstance(store, LocalStore):
        return str(store.path(record.image_key)), str(store.path(record.image_key, "thumb"))
    return studio.images.url(record, "full"), studio.images.url(record, "thumb")


def _record_json(record: GenerationRecord, locations: tuple[str | None, str | None]) -> dict[str, object]:
    return {
        "id": record.id,
        "status": record.status,
        "url": locations[0],
        "thumbnail_url": locations[1],
        "width": record.width,
        "height": record.height,
        "format": record.image_format,
        "seed": record.seed,
        "steps": record.steps,
        "prompt": record.prompt,
        "user": record.username,
        "generator": record.generator,
        "model": record.model,
        "guidance": record.guidance,
        "negative_prompt": record.negative_prompt,
        "reference_key": record.reference_key,
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
        request = _model_request(args, GenerationRequest(prompt=args.prompt, steps=args.steps, seed=args.seed,
                                                         is_public=args.public, source="cli"))
        generation_id = studio.generations.submit(user_id, request)
        # A running app or worker may take it first; otherwise this command runs it itself.
        studio.start_workers(1, kind="cli", only=(generation_id,))
        record = studio.generations.wait(generation_id)
        locations = _locations(studio, record)
    finally:
        studio.close()
    if args.json:
        print(json.dumps(_record_json(record, locations), default=str, indent=2))
    if record.status == "failed":
        print(f"error: {record.error_message}", file=sys.stderr)
        return 1
    if not args.json:
        kind = "offline sketch (not AI)" if record.is_offline_sketch else record.model
        print(f"Image #{record.id}: {record.width}x{record.height} {record.image_format}, {kind}, "
              f"seed {record.seed}, {record.steps} steps, {record.total_ms} ms")
        print(locations[0] or "")
        if record.status == "pending_upload":
            print(f"note: {record.error_message} Run: python -m akari retry-uploads", file=sys.stderr)
    return 0


def _model_request(args: argparse.Namespace, request: GenerationRequest) -> GenerationRequest:
    """The request with the model options: --model, --aspect, --negative-prompt, --guidance, --reference. Steps and
    the aspect's size are the core's to fill in for the model (prompts.validate)."""
    reference = None
    if args.reference:
        try:
            reference = Path(args.reference).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"Cannot read the reference image {args.reference!r}: {exc.strerror}.") from exc
    return replace(request, model=args.model, steps=args.steps, aspect=args.aspect, guidance=args.guidance,
                   negative_prompt=args.negative_prompt, reference=reference)


def cmd_retry_uploads(_args: argparse.Namespace) -> int:
    studio = _open_studio()
    try:
        report = studio.retry_uploads()
    finally:
        studio.close()
    print(f"Uploaded {len(report.stored)}; still waiting {len(report.still_pending)}; lost {len(report.missing)}.")
    for generation_id, reason in report.still_pending.items():
        print(f"  #{generation_id}: {reason}", file=sys.stderr)
    return 0 if not report.still_pending and not report.missing else 1


def cmd_worker(args: argparse.Namespace) -> int:
    """Run generations without the UI until stopped (Ctrl-C or SIGTERM)."""
    studio = _open_studio()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        pool = studio.start_workers(args.workers, kind="worker")
        print(f"Worker {pool.id}: {pool.workers} worker(s) on {studio.settings.database_label}; "
              f"images by {studio.backends.generator}, kept on {studio.backends.store}. Stop with Ctrl-C.",
              flush=True)
        stop.wait()
        print("Stopping: finishing the generations in hand…", flush=True)
    finally:
        studio.close()
    return 0


@contextmanager
def _database(*, migrated: bool = True) -> Iterator[tuple[Settings, Engine]]:
    """The configured database (brought up to date unless asked not to), without generators or workers."""
    settings = load_settings()
    engine = make_engine(settings.database_url)
    try:
        if migrated:
            migrate.upgrade(engine)
        yield settings, engine
    finally:
        engine.dispose()


@contextmanager
def _accounts() -> Iterator[Accounts]:
    with _database() as (settings, engine):
        yield Accounts(make_session_factory(engine), bcrypt_rounds=settings.bcrypt_rounds)


def cmd_db_upgrade(_args: argparse.Namespace) -> int:
    with _database(migrated=False) as (settings, engine):
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
    print(f"Database {settings.database_label}: {before or 'empty'} -> {after}")
    return 0


def cmd_db_current(_args: argparse.Namespace) -> int:
    with _database(migrated=False) as (_settings, engine):
        print(f"{migrate.current_revision(engine) or 'empty'} (latest: {migrate.head_revision()})")
    return 0


def _read_password(username: str) -> str:
    """From a hidden prompt (asked twice) on a terminal, else the first line of standard input; never an argument,
    which would sit in the shell history and the process list."""
    if sys.stdin.isatty():
        password = getpass.getpass(f"New password for {username}: ")
        if getpass.getpass("Repeat it: ") != password:
            raise InvalidInput("The two passwords differ; nothing was changed.")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password.strip():
        raise InvalidInput("No password was given (type it at the prompt, or pipe it on standard input).")
    return password


def cmd_users_add(args: argparse.Namespace) -> int:
    with _accounts() as accounts:
        password = _read_password(args.username.strip().lower())
        account = accounts.create_user(args.username, password, name=args.name or "", email=args.email or "",
                                       roles=(ADMIN,) if args.admin else (MEMBER,))
    role = "administrator" if account.is_admin else "member"
    print(f"Created {role} {account.username!r}. They can sign in now.")
    return 0


def cmd_users_reset_password(args: argparse.Namespace) -> int:
    with _accounts() as accounts:
        username = accounts.get(args.username).username
        accounts.set_password(username, _read_password(username))
    print(f"Password of {username!r} changed; any sign-in pause on it is lifted.")
    return 0


def cmd_users_list(_args: argparse.Namespace) -> int:
    with _accounts() as accounts:
        rows = accounts.list()
    if not rows:
        print("No accounts yet. Create the administrator with: python -m akari users add NAME --admin")
        return 0
    print(f"{'USERNAME':<24} {'ROLE':<14} {'STATE':<10} {'QUOTA':<8} NAME / EMAIL")
    for account in rows:
        role = "administrator" if account.is_admin else "member"
        state = "enabled" if account.enabled else "disabled"
        if not account.can_sign_in:
            state = "no login"
        quota = "default" if account.daily_quota is None else str(account.daily_quota)
        contact = " / ".join(part for part in (account.name, account.email) if part)
        print(f"{account.username:<24} {role:<14} {state:<10} {quota:<8} {contact}")
    return 0


def _set_enabled(args: argparse.Namespace, enabled: bool) -> int:
    with _accounts() as accounts:
        username = accounts.get(args.username).username
        accounts.set_enabled(username, enabled)
    if enabled:
        print(f"{username!r} is enabled.")
    else:
        print(f"{username!r} is disabled; they are signed out at their next click.")
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    return _set_enabled(args, False)


def cmd_users_enable(args: argparse.Namespace) -> int:
    return _set_enabled(args, True)


def cmd_users_set_neurons(args: argparse.Namespace) -> int:
    raw = args.neurons.strip().lower()
    try:
        neurons = None if raw == "default" else float(raw)
    except ValueError:
        raise InvalidInput(f"The neuron quota must be a number of neurons per day, or 'default' (not {raw!r}).") \
            from None
    studio = _open_studio()
    try:
        user_id = studio.user_id(args.username)
        if user_id is None:
            raise InvalidInput(f"No account is named {args.username!r}.")
        studio.quotas.set_user_neurons(user_id, neurons)
    finally:
        studio.close()
    amount = "the default number of" if neurons is None else f"{neurons:,.0f}"
    print(f"{args.username.strip().lower()!r} may now spend {amount} neurons a day.")
    return 0


def cmd_users_delete(args: argparse.Namespace) -> int:
    with _accounts() as accounts:
        username = accounts.get(args.username).username
        accounts.delete(username)
    print(f"{username!r} is deleted with their images' records, and signed out everywhere.")
    return 0


def cmd_users_signout(args: argparse.Namespace) -> int:
    with _accounts() as accounts:
        account = accounts.get(args.username)
        accounts.sign_out_everywhere(account.username)
    print(f"{account.username!r} is signed out everywhere.")
    return 0


def cmd_users_set_quota(args: argparse.Namespace) -> int:
    raw = args.quota.strip().lower()
    if raw == "default":
        quota = None
    elif raw.isdigit():
        quota = int(raw)
    else:
        raise InvalidInput(f"The quota must be a whole number of generations per day, or 'default' (not {raw!r}).")
    with _accounts() as accounts:
        username = accounts.get(args.username).username
        accounts.set_daily_quota(username, quota)
    print(f"{username!r} may now start {'the default number of' if quota is None else quota} generations a day.")
    return 0


def cmd_demo_data(args: argparse.Namespace) -> int:
    from akari import demo_data

    with _database() as (settings, engine):
        report = demo_data.fill(engine, settings.images_dir, args.rows, users=args.users, days=args.days,
                                seed=args.seed)
    print(f"Added {report.rows:,} demo generations by {len(report.users)} demo users over {args.days} days "
          f"in {report.seconds:.1f} s to {settings.database_label}.")
    print(f"Demo accounts ({', '.join(report.users)}) have no password: nobody can sign in as them.")
    return 0


@contextmanager
def _tokens() -> Iterator[tuple[Tokens, Accounts]]:
    with _database() as (settings, engine):
        sessions = make_session_factory(engine)
        yield Tokens(sessions, rate_per_minute=settings.api_rate_per_minute), Accounts(sessions)


def _when(moment: datetime | None, never: str = "never") -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else never


def cmd_tokens_create(args: argparse.Namespace) -> int:
    with _tokens() as (tokens, accounts):
        account = accounts.get(args.username)
        made = tokens.create(None, account.id, args.name, args.expires_days)
    print(f"Token #{made.info.id} {made.info.name!r} for {account.username!r}, expires "
          f"{_when(made.info.expires_at)}. It is shown only now: keep it somewhere safe.")
    print(made.token)
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    with _tokens() as (tokens, accounts):
        user_id = accounts.get(args.username).id if args.username else None
        rows = tokens.list(None, user_id)
    if not rows:
        print("No API tokens.")
        return 0
    print(f"{'ID':<6} {'USER':<20} {'NAME':<24} {'PREFIX':<13} {'STATE':<8} {'EXPIRES':<21} LAST USED")
    for token in rows:
        print(f"{token.id:<6} {token.username:<20} {token.name[:24]:<24} {token.prefix:<13} {token.state():<8} "
              f"{_when(token.expires_at):<21} {_when(token.last_used_at)}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    with _tokens() as (tokens, _accounts):
        token = tokens.revoke(None, args.token_id)
    print(f"Token #{token.id} {token.name!r} of {token.username!r} is revoked; its next call fails.")
    return 0


def _steps(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"steps must be a whole number, not {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m akari", description="Akari text-to-image studio.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = sub.add_parser("generate", help="make one image from a prompt")
    gen.add_argument("prompt")
    gen.add_argument("--steps", type=_steps, default=None,
                     help="the model's range (FLUX.1: 1-8, default 4); more: finer, costlier")
    gen.add_argument("--model", choices=list(CATALOG), default=None, help="default: the admin's default model")
    gen.add_argument("--aspect", choices=list(ASPECTS), default=None, help="aspect ratio, for models that take a size")
    gen.add_argument("--negative-prompt", default=None, help="what the image should not show (models that take it)")
    gen.add_argument("--guidance", type=float, default=None, help="how closely to follow the prompt (models that "
                     "take it)")
    gen.add_argument("--reference", metavar="FILE", default=None, help="start from this image (models that take one)")
    gen.add_argument("--seed", type=int, default=None, help="fix the seed to reproduce an image (default: random)")
    gen.add_argument("--user", default=CLI_USER, help="the account to record it under (default: cli)")
    gen.add_argument("--public", action="store_true", help="share it to the community gallery")
    gen.add_argument("--json", action="store_true", help="print the result as JSON")
    gen.set_defaults(func=cmd_generate)

    retry = sub.add_parser("retry-uploads", help="upload images that were made but could not be stored")
    retry.set_defaults(func=cmd_retry_uploads)

    worker = sub.add_parser("worker", help="run queued generations without the UI, until stopped")
    worker.add_argument("--workers", type=int, default=None, help="how many at once (default: AKARI_WORKERS)")
    worker.set_defaults(func=cmd_worker)

    users = sub.add_parser("users", help="accounts: add, reset a password, list, disable, enable")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users_sub.add_parser("add", help="create an account (password from a prompt or standard input)")
    add.add_argument("username", metavar="NAME", help="3-32 characters: a-z, 0-9, dot, dash, underscore")
    add.add_argument("--admin", action="store_true", help="make it an administrator")
    add.add_argument("--name", help="the name shown in the app (default: the username)")
    add.add_argument("--email", help="email address")
    add.set_defaults(func=cmd_users_add)
    reset = users_sub.add_parser("reset-password", help="set a new password (from a prompt or standard input)")
    reset.add_argument("username", metavar="NAME")
    reset.set_defaults(func=cmd_users_reset_password)
    users_sub.add_parser("list", help="list accounts").set_defaults(func=cmd_users_list)
    disable = users_sub.add_parser("disable", help="stop an account from signing in (ends its sessions)")
    disable.add_argument("username", metavar="NAME")
    disable.set_defaults(func=cmd_users_disable)
    enable = users_sub.add_parser("enable", help="let a disabled account sign in again")
    enable.add_argument("username", metavar="NAME")
    enable.set_defaults(func=cmd_users_enable)
    set_neurons = users_sub.add_parser("set-neurons", help="neurons a day for one account, or 'default'")
    set_neurons.add_argument("username", metavar="NAME")
    set_neurons.add_argument("neurons", metavar="N|default")
    set_neurons.set_defaults(func=cmd_users_set_neurons)

    delete = users_sub.add_parser("delete", help="remove an account and its generations (ends its sessions)")
    delete.add_argument("username", metavar="NAME")
    delete.set_defaults(func=cmd_users_delete)
    signout = users_sub.add_parser("sign-out", help="end every sign-in session of an account")
    signout.add_argument("username", metavar="NAME")
    signout.set_defaults(func=cmd_users_signout)
    set_quota = users_sub.add_parser("set-quota", help="generations a day for one account, or 'default'")
    set_quota.add_argument("username", metavar="NAME")
    set_quota.add_argument("quota", metavar="N|default")
    set_quota.set_defaults(func=cmd_users_set_quota)

    demo = sub.add_parser("demo-data", help="add synthetic generations, for demos and benchmarks")
    demo.add_argument("--rows", type=int, required=True, help="how many generations to add (1M takes ~30 s)")
    demo.add_argument("--users", type=int, default=8, help="how many demo users share them (1-12, default 8)")
    demo.add_argument("--days", type=int, default=180, help="spread over the last D days (default 180)")
    demo.add_argument("--seed", type=int, default=7, help="random seed: the same seed gives the same rows")
    demo.set_defaults(func=cmd_demo_data)

    tokens = sub.add_parser("tokens", help="personal HTTP API tokens: create, list, revoke")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    create = tokens_sub.add_parser("create", help="make a token for an account (printed once, on the last line)")
    create.add_argument("username", metavar="USER")
    create.add_argument("--name", default="command line", help="to recognise it in lists")
    create.add_argument("--expires-days", type=int, default=None, help="valid for D days (default: until revoked)")
    create.set_defaults(func=cmd_tokens_create)
    listing = tokens_sub.add_parser("list", help="every token, or one account's, with its last use")
    listing.add_argument("username", metavar="USER", nargs="?")
    listing.set_defaults(func=cmd_tokens_list)
    revoke = tokens_sub.add_parser("revoke", help="revoke a token at once")
    revoke.add_argument("token_id", metavar="ID", type=int)
    revoke.set_defaults(func=cmd_tokens_revoke)

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_sub.add_parser("upgrade", help="apply pending migrations").set_defaults(func=cmd_db_upgrade)
    db_sub.add_parser("current", help="show the schema revision").set_defaults(func=cmd_db_current)

    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    """Quiet by default (the command prints its own result); -v, or a worker, logs at the configured level."""
    try:
        settings = load_settings()
    except AkariError:
        logs.configure("INFO" if args.verbose else "WARNING")
        return  # the command itself reports the misconfiguration
    level = "INFO" if args.verbose else settings.log_level if args.func is cmd_worker else "WARNING"
    logs.configure(level, settings.log_format, settings.secret_values)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args)
    try:
        return args.func(args)
    except SQLAlchemyError as exc:
        error = translated(exc)
        logging.getLogger("akari.cli").info("database: %s", error.detail)  # shown with -v
        print(f"error: {error.message}", file=sys.stderr)
        return 1
    except AkariError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2 if exc.reason == "config" else 1
    except KeyboardInterrupt:
        return 130
