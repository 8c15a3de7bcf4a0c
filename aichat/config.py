"""Every setting aichat reads, in one place: defaults, then instance/config.py,
then the environment (and a `.env` file), then the test mapping."""
from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

# An obvious placeholder: `flask verify` flags it in production.
DEFAULT_SECRET_KEY = "dev-insecure-change-me"


class Defaults:
    """Flask and aichat defaults; each is overridden by an environment variable of the same name."""

    SECRET_KEY = DEFAULT_SECRET_KEY  # the placeholder: a random key is generated in instance/secret_key
    SQLALCHEMY_DATABASE_URI: str | None = None  # None: a SQLite file in instance/
    SQLALCHEMY_TRACK_MODIFICATIONS = False
    # Test a pooled connection before use, so the app recovers by itself when the database returns.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    AICHAT_ENV = "production"  # or development: `flask verify` is strict in production
    AICHAT_DB_CONNECT_TIMEOUT = 5  # seconds to connect to PostgreSQL before giving up
    # Fernet keys that encrypt upstream keys stored in the database, comma-separated, newest first
    # (the newest encrypts, any decrypts: rotate with `flask upstreams reencrypt`). Empty: one is
    # generated in instance/encryption_key. Every instance on one database needs the same keys.
    AICHAT_ENCRYPTION_KEY: list[str] = []

    # Providers. Keys may be one value or several, comma-separated.
    OPENAI_API_KEY: list[str] = []
    OPENAI_BASE_URL = "https://api.openai.com/v1"
    OPENAI_MODEL = "gpt-4o-mini"
    GEMINI_API_KEY: list[str] = []
    GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
    GEMINI_MODEL = "gemini-2.5-flash"

    # Routing and failover.
    AICHAT_PROVIDER_ORDER = ["gemini", "openai"]
    AICHAT_DEFAULT_MODEL = ""  # empty: the first configured provider's default model
    AICHAT_MODEL_ALIASES = {"gemini-2.5-flash-latest": "gemini-2.5-flash"}
    AICHAT_MAX_ATTEMPTS = 4
    AICHAT_CONNECT_TIMEOUT = 5.0
    AICHAT_FIRST_TOKEN_TIMEOUT = 30.0
    AICHAT_TOTAL_TIMEOUT = 120.0
    AICHAT_CIRCUIT_FAILURES = 5
    AICHAT_CIRCUIT_WINDOW = 60.0
    AICHAT_CIRCUIT_COOLDOWN = 30.0
    AICHAT_KEY_RETEST_INTERVAL = 600.0
    AICHAT_UPSTREAM_POOL_SIZE = 5000
    AICHAT_CONFIG_POLL_INTERVAL = 1.0  # seconds between each process's checks for changed upstreams; 0: never

    # The public surfaces.
    AICHAT_API_KEYS: list[str] = []
    AICHAT_ALLOWED_ORIGINS: list[str] = []
    AICHAT_RATE_LIMIT = "30/minute"
    AICHAT_RATELIMIT_STORAGE_URI = ""  # empty: REDIS_URL when set, else in memory
    # Shares rate limits and circuit/key health between workers and instances; optional, never required to serve.
    REDIS_URL = ""
    # Redis unreachable: limits count in each process's memory until it answers again (never a 500).
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    AICHAT_REDIS_TIMEOUT = 0.5  # seconds a Redis connect or command may take before Redis counts as unreachable
    AICHAT_REDIS_PREFIX = "aichat:"  # of aichat's own Redis keys (shared health); one per deployment sharing a Redis
    AICHAT_HEALTH_RESYNC = 5.0  # seconds between full reads of the shared health (repairs a missed change)
    # Tokens a request without max_tokens is expected to answer with, reserved against token limits
    # until the call ends and its real usage replaces the estimate.
    AICHAT_LIMITS_COMPLETION_ESTIMATE = 256
    # Proxies in front (nginx, a load balancer) whose X-Forwarded-For/-Proto/-Host entries are believed, counted
    # from the right; 0: the socket's peer is the client and those headers are ignored.
    AICHAT_TRUSTED_PROXIES = 0
    # Client address rules: comma-separated addresses or CIDR networks, IPv4 or IPv6. Deny wins; an empty allow
    # list admits everyone. A refused address gets 403 before anything else runs.
    AICHAT_ADMIN_ALLOW_IPS: list[str] = []  # /admin…
    AICHAT_ADMIN_DENY_IPS: list[str] = []
    AICHAT_MONITORING_ALLOW_IPS: list[str] = []  # /api/v1/ai-monitoring…
    AICHAT_MONITORING_DENY_IPS: list[str] = []
    # How client addresses are kept in logs: full, truncated (to the /24 or /48 network) or none.
    AICHAT_CLIENT_IP_STORAGE = "truncated"
    AICHAT_MAX_BODY_BYTES = 1024 * 1024
    AICHAT_MAX_TOKENS_LIMIT = 8192
    AICHAT_MAX_MESSAGES = 200
    AICHAT_SUGGESTIONS = True
    # Tokens of stored turns (with the site's system prompt and the new message) a conversation's call sends
    # upstream, for sites whose preset sets no max_input_tokens; older turns are left out first.
    AICHAT_CONVERSATION_CONTEXT_TOKENS = 8000

    # Usage recording, cost and rollups.
    AICHAT_USAGE_BATCH_SIZE = 50
    AICHAT_USAGE_FLUSH_INTERVAL = 0.5
    # Rows waiting to be written, per process: past half of it they spill to the spool (written
    # later, once), past all of it new rows are shed (counted and logged). Bounds the memory.
    AICHAT_USAGE_QUEUE_MAX = 10000
    AICHAT_USAGE_SPOOL_DIR = ""  # rows not written by the stop deadline wait here; empty: instance/usage-spool
    AICHAT_TIMEZONE = "UTC"  # where days are cut for the daily rollup, e.g. Asia/Shanghai
    AICHAT_ROLLUP_INTERVAL = 30.0  # seconds between background rollups of changed days; 0: off
    AICHAT_PRICE_REFRESH = 10.0  # seconds a loaded price table is used before it is read again
    TIKTOKEN_CACHE_DIR = ""  # tiktoken's encoding files; empty: instance/tiktoken

    # Admin accounts and the console.
    AICHAT_LOGIN_RATE_LIMIT = "10/minute"  # login attempts per IP
    AICHAT_LOGIN_MAX_FAILURES = 5  # failed logins for one name, within the lock time of the first, that lock it
    AICHAT_LOGIN_LOCK_MINUTES = 15.0  # how long it stays locked (`flask users unlock NAME` ends it sooner)
    AICHAT_SESSION_IDLE_MINUTES = 30.0  # a console session unused this long ends
    AICHAT_SESSION_LIFETIME_HOURS = 12.0  # and any console session ends this long after sign-in
    SESSION_COOKIE_HTTPONLY = True
    # Lax, not Strict: a link to the console from mail or chat opens it signed in; cross-site POSTs carry no
    # cookie either way, and every state change needs its CSRF token besides.
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE: bool | None = None  # None: on in production, off in development (plain HTTP)
    SESSION_REFRESH_EACH_REQUEST = False  # the idle clock lives in the session, rewritten once a minute at most
    AICHAT_HSTS_SECONDS = 31536000  # Strict-Transport-Security max-age on HTTPS responses; 0: no header
    AICHAT_AUDIT_RETENTION_DAYS = 365  # audit events older than this are pruned hourly; 0 keeps them all
    WTF_CSRF_TIME_LIMIT = None  # a login form may stay open all day; the token is tied to the session
    WTF_CSRF_CHECK_DEFAULT = True  # every form POST needs the token; the JSON blueprints exempt themselves

    # Health, metrics, logs and stopping.
    AICHAT_READY_CACHE_SECONDS = 2.0  # /health/ready answers from its last result this long
    AICHAT_READY_TIMEOUT = 1.0  # a readiness check that takes longer counts as failed
    AICHAT_METRICS_TOKEN = ""  # /metrics accepts `Authorization: Bearer <this>` when set
    # Addresses or networks that may read /metrics (and must send the token too when it is set). Unset: loopback
    # only without a token, any address with one.
    AICHAT_METRICS_ALLOW_IPS: list[str] | None = None
    AICHAT_METRICS_DENY_IPS: list[str] = []
    AICHAT_LOG_LEVEL = "INFO"
    AICHAT_ACCESS_LOG = True  # one JSON line per request on stderr
    AICHAT_ACCESS_LOG_HEALTH = False  # also for /health, /health/ready and /metrics (polled every second)
    AICHAT_STOP_DEADLINE = 25.0  # after SIGTERM, streams get this long, then end with an error event
    AICHAT_WORKERS = 2  # gunicorn worker processes (gunicorn.conf.py reads it too); `flask verify` weighs it
    AICHAT_VERIFY_TIMEOUT = 10.0  # seconds each `flask verify` check may take before it counts as failed


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _aliases(value: str) -> dict[str, str]:
    """`a=b,c=d` into a mapping; the built-in aliases stay unless overridden."""
    aliases = dict(Defaults.AICHAT_MODEL_ALIASES)
    for pair in _split(value):
        name, sep, target = pair.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise ValueError(f"AICHAT_MODEL_ALIASES: expected name=model, got {pair!r}")
        aliases[name.strip()] = target.strip()
    return aliases


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {value!r}")


_PARSERS = {
    "OPENAI_API_KEY": _split,
    "GEMINI_API_KEY": _split,
    "AICHAT_ENCRYPTION_KEY": _split,
    "AICHAT_PROVIDER_ORDER": lambda v: [p.lower() for p in _split(v)],
    "AICHAT_MODEL_ALIASES": _aliases,
    "AICHAT_API_KEYS": _split,
    "AICHAT_ALLOWED_ORIGINS": lambda v: [o.rstrip("/") for o in _split(v)],
    "AICHAT_SUGGESTIONS": _bool,
    "AICHAT_ADMIN_ALLOW_IPS": _split,
    "AICHAT_ADMIN_DENY_IPS": _split,
    "AICHAT_MONITORING_ALLOW_IPS": _split,
    "AICHAT_MONITORING_DENY_IPS": _split,
    "AICHAT_METRICS_ALLOW_IPS": _split,
    "AICHAT_METRICS_DENY_IPS": _split,
    "AICHAT_CLIENT_IP_STORAGE": lambda v: _choice(v.strip().lower(), ("full", "truncated", "none")),
    "AICHAT_ENV": lambda v: _choice(v.strip().lower(), ("production", "development")),
    "SESSION_COOKIE_SECURE": _bool,
}


def _choice(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


# Settings that changed name (and meaning): still setting the old one stops the start, so nobody relies on it unread.
_RENAMED = {"AICHAT_METRICS_ALLOW": "AICHAT_METRICS_ALLOW_IPS (with AICHAT_METRICS_TOKEN set, a scrape now needs "
                                   "both an allowed address and the token)"}


def from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings the environment overrides, parsed to the type of their default."""
    for old, new in _RENAMED.items():
        if old in environ:
            raise ValueError(f"{old} is now {new}")
    settings: dict[str, Any] = {}
    for name in dir(Defaults):
        if not name.isupper() or name not in environ:
            continue
        raw = environ[name]
        default = getattr(Defaults, name)
        try:
            if name in _PARSERS:
                settings[name] = _PARSERS[name](raw)
            elif isinstance(default, bool):
                settings[name] = _bool(raw)
            elif isinstance(default, int):
                settings[name] = int(raw)
            elif isinstance(default, float):
                settings[name] = float(raw)
            else:
                settings[name] = raw.strip()
        except ValueError as exc:
            raise ValueError(f"invalid value for {name}: {exc}") from None
    if environ.get("DATABASE_URL"):
        settings["SQLALCHEMY_DATABASE_URI"] = _database_url(environ["DATABASE_URL"])
    return settings


def _database_url(url: str) -> str:
    """Accept the common `postgres://` spellings and use the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load(app, test_config: Mapping[str, Any] | None = None) -> None:
    """Fill app.config: defaults → instance/config.py → environment (.env included) → test mapping."""
    app.config.from_object(Defaults)
    app.config.from_pyfile("config.py", silent=True)
    if test_config is None:
        _load_dotenv()
        app.config.update(from_environ(os.environ))
    else:
        app.config.update(test_config)
    if not app.config["TIKTOKEN_CACHE_DIR"]:
        app.config["TIKTOKEN_CACHE_DIR"] = os.path.join(app.instance_path, "tiktoken")
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "aichat.db")
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    # A connect_timeout in DATABASE_URL itself wins: one in connect_args would override it.
    if uri.startswith("postgresql") and "connect_timeout" not in parse_qs(uri.partition("?")[2]):
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        options["connect_args"] = {"connect_timeout": app.config["AICHAT_DB_CONNECT_TIMEOUT"],
                                   **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    # `SECRET_KEY=` left empty in an environment file means unset: an empty key disables sessions.
    if app.config["SECRET_KEY"] in ("", DEFAULT_SECRET_KEY) and not app.config.get("TESTING"):
        app.config["SECRET_KEY"] = instance_secret_key(app.instance_path) or DEFAULT_SECRET_KEY
    app.config["MAX_CONTENT_LENGTH"] = app.config["AICHAT_MAX_BODY_BYTES"]
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = app.config["AICHAT_ENV"] == "production"
    app.config["PERMANENT_SESSION_LIFETIME"] = timedelta(hours=float(app.config["AICHAT_SESSION_LIFETIME_HOURS"]))


SECRET_KEY_FILE = "secret_key"
ENCRYPTION_KEY_FILE = "encryption_key"


def instance_secret_key(instance_path: str) -> str | None:
    """The key in instance/secret_key, written with a random value on first start; None if it cannot be."""
    import secrets

    key = _instance_file(instance_path, SECRET_KEY_FILE, lambda: secrets.token_urlsafe(48))
    return key if key and len(key) >= 32 else None


def instance_encryption_key(instance_path: str) -> str | None:
    """The Fernet key in instance/encryption_key, generated when first needed; None if it cannot be."""
    from cryptography.fernet import Fernet

    return _instance_file(instance_path, ENCRYPTION_KEY_FILE, lambda: Fernet.generate_key().decode())


def _instance_file(instance_path: str, name: str, make) -> str | None:
    """The stripped content of instance/NAME, written once with `make()` (mode 0600); None if it cannot be."""
    import tempfile

    path = os.path.join(instance_path, name)
    try:
        os.makedirs(instance_path, exist_ok=True)
        if not os.path.exists(path):
            # Several workers may start at once: the file appears whole (written aside, then linked
            # into place), and whoever loses the race reads the winner's value.
            fd, temp = tempfile.mkstemp(dir=instance_path, prefix=f".{name}.")  # mode 0600
            with os.fdopen(fd, "w") as out:
                out.write(make())
            try:
                os.link(temp, path)
            except FileExistsError:
                pass
            finally:
                os.unlink(temp)
        with open(path) as file:
            return file.read().strip()
    except OSError:
        return None


def _load_dotenv() -> None:
    """Read `.env` from the working directory; real environment variables win."""
    from dotenv import load_dotenv

    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
