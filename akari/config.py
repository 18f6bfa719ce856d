"""Settings, the one source of configuration: keyword arguments > environment > secrets.toml > defaults."""

from __future__ import annotations

import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlparse, urlsplit, urlunsplit

from akari.errors import ConfigError

DEFAULT_CLOUDFLARE_API_BASE = "https://api.cloudflare.com/client/v4"
DEFAULT_AI_GATEWAY_BASE = "https://gateway.ai.cloudflare.com/v1"
FLUX_MODEL = "@cf/black-forest-labs/flux-1-schnell"
GENERATOR_CHOICES = ("auto", "cloudflare", "offline")
STORE_CHOICES = ("auto", "cloudinary", "local")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_BCRYPT_ROUNDS = 12
# Where Streamlit looks for secrets.toml by default: the user's, then the project's (which wins).
SECRETS_FILES = (Path("~/.streamlit/secrets.toml"), Path(".streamlit/secrets.toml"))
# secrets.toml names the cookie key in lower case; every other setting by its variable name.
_SECRET_ALIASES = {"cookie_key": "AKARI_COOKIE_KEY"}
_SECRET_FIELDS = {"cloudflare_api_key", "cookie_key"}

# The environment as the process was started. Streamlit copies secrets.toml's root keys into os.environ when the
# server starts, over real variables; this copy (taken when Akari is first imported, before that) lets the real
# environment win again. `remember_environment` retakes it.
_process_environment: dict[str, str] = dict(os.environ)


def remember_environment() -> None:
    """Take the process's environment as it is now as the real one (the server does this before Streamlit starts)."""
    global _process_environment
    _process_environment = dict(os.environ)


@dataclass(frozen=True)
class CloudinaryCredentials:
    cloud_name: str
    api_key: str
    api_secret: str = field(repr=False)
    upload_prefix: str | None = None
    folder: str = "akari"
    delivery_base: str | None = None  # None: Cloudinary's own CDN (tests point it at a local fake)
    # Token-based authentication (a Cloudinary add-on): private URLs then also expire.
    auth_token_key: str | None = field(default=None, repr=False)
    private_url_seconds: int = 3600

    def __repr__(self) -> str:  # never print the secret
        return f"CloudinaryCredentials(cloud_name={self.cloud_name!r}, api_key={self.api_key!r}, api_secret='***')"


SMTP_TLS_CHOICES = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: str = "starttls"  # starttls | ssl | none


def _smtp_from(overrides: Mapping[str, object], env: Mapping[str, str]) -> SmtpSettings | None:
    host = _get("AKARI_SMTP_HOST", overrides, env)
    if not host:
        return None
    tls = (_get("AKARI_SMTP_TLS", overrides, env) or "starttls").lower()
    if tls not in SMTP_TLS_CHOICES:
        raise ConfigError(f"AKARI_SMTP_TLS must be one of {', '.join(SMTP_TLS_CHOICES)}, not {tls!r}.")
    sender = _get("AKARI_SMTP_FROM", overrides, env)
    if not sender or "@" not in sender:
        raise ConfigError("AKARI_SMTP_FROM must be the address Akari's emails come from (it is needed with "
                          "AKARI_SMTP_HOST).")
    username = _get("AKARI_SMTP_USERNAME", overrides, env)
    password = _get("AKARI_SMTP_PASSWORD", overrides, env)
    if bool(username) != bool(password):
        raise ConfigError("Set both AKARI_SMTP_USERNAME and AKARI_SMTP_PASSWORD, or neither.")
    port = _int("AKARI_SMTP_PORT", 465 if tls == "ssl" else 587, overrides, env, minimum=1, maximum=65535)
    return SmtpSettings(host, port, sender, username, password, tls)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    generator: str  # resolved: "cloudflare" | "offline"
    store: str  # resolved: "cloudinary" | "local"
    cloudflare_account_id: str | None = None
    cloudflare_api_key: str | None = field(default=None, repr=False)
    cloudflare_api_base: str = DEFAULT_CLOUDFLARE_API_BASE
    cloudflare_ai_gateway: str | None = None
    cloudflare_gateway_base: str = DEFAULT_AI_GATEWAY_BASE
    cloudinary: CloudinaryCredentials | None = None
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    upload_timeout: float = 60.0
    max_retries: int = 3
    retry_read_timeouts: bool = False
    generation_deadline: float = 90.0
    workers: int = 32
    lease_seconds: float = 30.0
    upload_retry_seconds: float = 30.0
    default_daily_quota: int = 200
    # Several models (issue 13): neurons per user per UTC day, unless the admin sets another.
    default_daily_neurons: int = 25_000
    cookie_key: str | None = field(default=None, repr=False)
    bcrypt_rounds: int = DEFAULT_BCRYPT_ROUNDS
    log_level: str = "INFO"
    log_format: str = "text"
    api_rate_per_minute: int = 60  # the HTTP API, per token

    # -- security
    behind_tls: bool = False  # browsers reach the app over HTTPS: the sign-in cookie is marked Secure
    smtp: SmtpSettings | None = None  # email verification (codes for a domain allowlist); None: no email is sent

    def __repr__(self) -> str:  # never print a secret: keys, tokens, the database password
        shown = []
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name in _SECRET_FIELDS:
                value = "***" if value else None
            elif item.name == "database_url":
                value = redact_url(value)
            shown.append(f"{item.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @property
    def secret_values(self) -> list[str]:
        """Every secret in the settings, for the log's redaction."""
        values = [self.cloudflare_api_key, self.cookie_key, urlsplit(self.database_url).password]
        if self.cloudinary is not None:
            values += [self.cloudinary.api_secret, self.cloudinary.auth_token_key]
        if self.smtp is not None:
            values.append(self.smtp.password)
        return [value for value in values if value]

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def generator_label(self) -> str:
        if self.generator == "cloudflare":
            return "Cloudflare Workers AI (FLUX.1 [schnell] and other models)"
        return "Offline sketch renderer"

    @property
    def store_label(self) -> str:
        return "Cloudinary" if self.store == "cloudinary" else f"Local disk ({self.images_dir})"

    @property
    def database_label(self) -> str:
        scheme = self.database_url.split(":", 1)[0]
        if scheme.startswith("sqlite"):
            return f"SQLite ({self.database_url.split('///', 1)[-1]})"
        if scheme.startswith("postgresql"):
            host = urlparse(self.database_url).hostname or "local socket"
            return f"PostgreSQL ({host})"
        return scheme

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def redact_url(url: str) -> str:
    """The URL with its password (if any) replaced by ***, for logs and pages."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def read_secrets_files(paths: Iterable[Path] = SECRETS_FILES) -> dict[str, str]:
    """Root-level settings from secrets.toml files (later files win); sections ([auth] and the like) are ignored."""
    values: dict[str, str] = {}
    for path in paths:
        path = Path(path).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            continue
        except OSError as exc:
            raise ConfigError(f"{path} cannot be read ({exc.strerror}).") from exc
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}. Fix the file or remove it.") from exc
        for key, value in data.items():
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                values[_SECRET_ALIASES.get(key, key)] = str(value)
    return values


def configuration(paths: Iterable[Path] | None = None) -> dict[str, str]:
    """Every setting's raw value: the real environment first, then secrets.toml (AKARI_SECRETS_FILE, else Streamlit's
    usual places). A variable Streamlit overwrote with the file's value gets its real value back; an empty variable
    counts as unset."""
    if paths is None:
        chosen = os.environ.get("AKARI_SECRETS_FILE", "").strip()
        paths = (Path(chosen),) if chosen else SECRETS_FILES
    secrets = read_secrets_files(paths)
    real = dict(os.environ)
    for name, value in secrets.items():
        started_with = _process_environment.get(name)
        if real.get(name) == value and started_with is not None and started_with != value:
            real[name] = started_with
    return {**secrets, **{name: value for name, value in real.items() if value.strip()}}


def _get(name: str, overrides: Mapping[str, object], env: Mapping[str, str]) -> str | None:
    key = name.lower()
    if key in overrides and overrides[key] is not None:
        return str(overrides[key])
    value = env.get(name)
    return value.strip() if value and value.strip() else None


def _parse_cloudinary_url(url: str) -> CloudinaryCredentials:
    parsed = urlparse(url)
    if parsed.scheme != "cloudinary" or not parsed.hostname or not parsed.username or not parsed.password:
        raise ConfigError(
            "CLOUDINARY_URL must look like cloudinary://API_KEY:API_SECRET@CLOUD_NAME.",
            detail="CLOUDINARY_URL is malformed",
        )
    params = dict(p.split("=", 1) for p in parsed.query.split("&") if "=" in p)
    return CloudinaryCredentials(
        cloud_name=parsed.hostname,
        api_key=parsed.username,
        api_secret=parsed.password,
        upload_prefix=params.get("upload_prefix"),
    )


def _cloudinary_privacy(creds: CloudinaryCredentials, overrides: Mapping[str, object],
                        env: Mapping[str, str]) -> CloudinaryCredentials:
    key = _get("CLOUDINARY_AUTH_TOKEN_KEY", overrides, env)
    if key is not None and not re.fullmatch(r"(?:[0-9a-fA-F]{2}){16,}", key):
        raise ConfigError("CLOUDINARY_AUTH_TOKEN_KEY must be the hexadecimal key of Cloudinary's token-based "
                          "authentication (Settings > Security).")
    seconds = _int("AKARI_PRIVATE_URL_SECONDS", 3600, overrides, env, minimum=60, maximum=7 * 86400)
    return replace(creds, auth_token_key=key, private_url_seconds=seconds)


def _cloudinary_from(overrides: Mapping[str, object], env: Mapping[str, str]) -> CloudinaryCredentials | None:
    cloud = _get("CLOUDINARY_CLOUD_NAME", overrides, env)
    key = _get("CLOUDINARY_API_KEY", overrides, env)
    secret = _get("CLOUDINARY_API_SECRET", overrides, env)
    prefix = _get("CLOUDINARY_UPLOAD_PREFIX", overrides, env)
    folder = _get("CLOUDINARY_FOLDER", overrides, env) or "akari"
    delivery = _get("CLOUDINARY_DELIVERY_BASE", overrides, env)
    if delivery and urlparse(delivery).scheme not in ("http", "https"):
        raise ConfigError(f"CLOUDINARY_DELIVERY_BASE must be an http(s) URL, not {delivery!r}.")
    if cloud or key or secret:
        missing = [n for n, v in (("CLOUDINARY_CLOUD_NAME", cloud), ("CLOUDINARY_API_KEY", key),
                                  ("CLOUDINARY_API_SECRET", secret)) if not v]
        if missing:
            raise ConfigError(f"Cloudinary is half configured: set {', '.join(missing)} (or use CLOUDINARY_URL).")
        return _cloudinary_privacy(CloudinaryCredentials(cloud, key, secret, upload_prefix=prefix,  # type: ignore[arg-type]
                                                         folder=folder, delivery_base=delivery), overrides, env)
    url = _get("CLOUDINARY_URL", overrides, env)
    if url:
        creds = _parse_cloudinary_url(url)
        return _cloudinary_privacy(replace(creds, upload_prefix=prefix or creds.upload_prefix, folder=folder,
                                           delivery_base=delivery), overrides, env)
    return None


def _float(name: str, default: float, overrides: Mapping[str, object], env: Mapping[str, str]) -> float:
    raw = _get(name, overrides, env)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}.") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a number of seconds, not {raw!r}.")
    if value <= 0:
        raise ConfigError(f"{name} must be greater than zero.")
    return value


def _int(name: str, default: int, overrides: Mapping[str, object], env: Mapping[str, str], minimum: int = 0,
         maximum: int | None = None) -> int:
    raw = _get(name, overrides, env)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}.") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}.")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}.")
    return value


def _bool(name: str, default: bool, overrides: Mapping[str, object], env: Mapping[str, str]) -> bool:
    raw = _get(name, overrides, env)
    if raw is None:
        return default
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}.")


def _choice(name: str, default: str, choices: tuple[str, ...], overrides: Mapping[str, object],
            env: Mapping[str, str]) -> str:
    raw = _get(name, overrides, env)
    if raw is None:
        return default
    for choice in choices:
        if raw.lower() == choice.lower():
            return choice
    raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {raw!r}.")


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read settings. Keyword names are the variable names in lower case (e.g. `akari_data_dir=`). Without `env`:
    the environment, then secrets.toml (see `configuration`)."""
    env = configuration() if env is None else env
    data_dir = Path(_get("AKARI_DATA_DIR", overrides, env) or "data").expanduser()
    database_url = _get("AKARI_DATABASE_URL", overrides, env) or f"sqlite:///{(data_dir / 'akari.db').as_posix()}"
    if "://" not in database_url:
        raise ConfigError("AKARI_DATABASE_URL must be a SQLAlchemy URL, e.g. sqlite:///data/akari.db "
                          "or postgresql+psycopg://user@host/dbname.")

    generator = (_get("AKARI_GENERATOR", overrides, env) or "auto").lower()
    if generator not in GENERATOR_CHOICES:
        raise ConfigError(f"AKARI_GENERATOR must be one of {', '.join(GENERATOR_CHOICES)}, not {generator!r}.")
    store = (_get("AKARI_STORE", overrides, env) or "auto").lower()
    if store not in STORE_CHOICES:
        raise ConfigError(f"AKARI_STORE must be one of {', '.join(STORE_CHOICES)}, not {store!r}.")

    account = _get("CLOUDFLARE_ID", overrides, env)
    token = _get("CLOUDFLARE_API_KEY", overrides, env)
    if generator == "auto":
        generator = "cloudflare" if account and token else "offline"
    if generator == "cloudflare":
        missing = [n for n, v in (("CLOUDFLARE_ID", account), ("CLOUDFLARE_API_KEY", token)) if not v]
        if missing:
            raise ConfigError(f"AKARI_GENERATOR=cloudflare needs {' and '.join(missing)} to be set "
                              "(the account id and a Workers AI API token).")

    cloudinary = _cloudinary_from(overrides, env)
    if store == "auto":
        store = "cloudinary" if cloudinary else "local"
    if store == "cloudinary" and cloudinary is None:
        raise ConfigError("AKARI_STORE=cloudinary needs CLOUDINARY_URL (or CLOUDINARY_CLOUD_NAME, "
                          "CLOUDINARY_API_KEY and CLOUDINARY_API_SECRET) to be set.")

    api_base = (_get("CLOUDFLARE_API_BASE", overrides, env) or DEFAULT_CLOUDFLARE_API_BASE).rstrip("/")
    gateway_base = (_get("CLOUDFLARE_GATEWAY_BASE", overrides, env) or DEFAULT_AI_GATEWAY_BASE).rstrip("/")
    for name, url in (("CLOUDFLARE_API_BASE", api_base), ("CLOUDFLARE_GATEWAY_BASE", gateway_base)):
        if urlparse(url).scheme not in ("http", "https"):
            raise ConfigError(f"{name} must be an http(s) URL, not {url!r}.")

    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        generator=generator,
        store=store,
        cloudflare_account_id=account,
        cloudflare_api_key=token,
        cloudflare_api_base=api_base,
        cloudflare_ai_gateway=_get("CLOUDFLARE_AI_GATEWAY", overrides, env),
        cloudflare_gateway_base=gateway_base,
        cloudinary=cloudinary if store == "cloudinary" else None,
        connect_timeout=_float("AKARI_CONNECT_TIMEOUT", 5.0, overrides, env),
        read_timeout=_float("AKARI_READ_TIMEOUT", 60.0, overrides, env),
        upload_timeout=_float("AKARI_UPLOAD_TIMEOUT", 60.0, overrides, env),
        max_retries=_int("AKARI_MAX_RETRIES", 3, overrides, env),
        retry_read_timeouts=_bool("AKARI_RETRY_READ_TIMEOUTS", False, overrides, env),
        generation_deadline=_float("AKARI_GENERATION_DEADLINE", 90.0, overrides, env),
        workers=_int("AKARI_WORKERS", 32, overrides, env, minimum=0, maximum=256),
        lease_seconds=_float("AKARI_LEASE_SECONDS", 30.0, overrides, env),
        upload_retry_seconds=_float("AKARI_UPLOAD_RETRY_SECONDS", 30.0, overrides, env),
        default_daily_quota=_int("AKARI_DAILY_QUOTA", 200, overrides, env),
        default_daily_neurons=_int("AKARI_DAILY_NEURONS", 25_000, overrides, env),
        cookie_key=_get("AKARI_COOKIE_KEY", overrides, env),
        bcrypt_rounds=_int("AKARI_BCRYPT_ROUNDS", DEFAULT_BCRYPT_ROUNDS, overrides, env, minimum=4, maximum=16),
        log_level=_choice("AKARI_LOG_LEVEL", "INFO", LOG_LEVELS, overrides, env),
        log_format=_choice("AKARI_LOG_FORMAT", "text", LOG_FORMATS, overrides, env),
        api_rate_per_minute=_int("AKARI_API_RATE_PER_MINUTE", 60, overrides, env, minimum=1),
        behind_tls=_bool("AKARI_BEHIND_TLS", False, overrides, env),
        smtp=_smtp_from(overrides, env),
    )
