"""Configuration: the secret key, debug, settings that must parse, and what production wants."""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

from flask import Flask

from .base import FAIL, OK, WARN, Check, strictness
from aichat.runtime import runtime_of

# Keys seen in tutorials and sample configs: as good as no key.
WELL_KNOWN_KEYS = {"dev", "development", "secret", "secret-key", "secret_key", "secretkey", "changeme", "change-me",
                   "change_me", "your-secret-key", "your_secret_key", "supersecret", "super-secret", "default",
                   "test", "testing", "password", "flask", "dev-key", "dev-secret", "please-change-me",
                   "you-will-never-guess", "hard to guess string"}
MIN_SECRET_KEY = 32


def secret_key(app: Flask) -> Check:
    """SECRET_KEY signs console sessions: a placeholder, a well-known or a short key lets anyone forge one."""
    from aichat.config import DEFAULT_SECRET_KEY

    key = app.config.get("SECRET_KEY") or ""
    bad = strictness(app)
    shared = "every instance behind a balancer needs the same SECRET_KEY"
    make_one = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
    if key == DEFAULT_SECRET_KEY:
        return Check("secret_key", bad, f"SECRET_KEY is the built-in placeholder (none set, and none could be "
                                        f"generated in {app.instance_path}/secret_key), so console sessions can be "
                                        f"forged: set SECRET_KEY to a long random value ({make_one}); {shared}")
    if key.strip().lower() in WELL_KNOWN_KEYS or len(set(key)) < 5:
        return Check("secret_key", bad, f"SECRET_KEY is a well-known or trivial value, so console sessions can be "
                                        f"forged: set a long random one ({make_one})")
    if len(key) < MIN_SECRET_KEY:
        return Check("secret_key", bad, f"SECRET_KEY has only {len(key)} characters: use {MIN_SECRET_KEY} or more "
                                        f"random ones ({make_one})")
    if key == _generated_key(app):
        return Check("secret_key", OK, f"generated in {app.instance_path}/secret_key; before adding a second "
                                       f"instance set SECRET_KEY in the environment, since {shared}")
    return Check("secret_key", OK, f"set in the environment or instance/config.py ({len(key)} characters); "
                                   f"{shared}")


def _generated_key(app: Flask) -> str | None:
    from aichat.config import SECRET_KEY_FILE

    try:
        with open(os.path.join(app.instance_path, SECRET_KEY_FILE)) as file:
            return file.read().strip()
    except OSError:
        return None


def debug(app: Flask) -> Check:
    """The Werkzeug debugger runs code for whoever triggers an error: never in production."""
    if not app.debug:
        return Check("debug", OK, "off")
    if app.config["AICHAT_ENV"] == "production":
        return Check("debug", FAIL, "debug is on in production, which exposes an interactive debugger and "
                                    "tracebacks: unset FLASK_DEBUG (and do not pass --debug)")
    return Check("debug", OK, "on, which is fine in development only")


def settings(app: Flask) -> Check:
    """Settings that must parse or make sense, each named with what is wrong."""
    problems = list(_problems(app))
    if problems:
        return Check("settings", FAIL, "fix " + "; ".join(problems))
    return Check("settings", OK, "database URL, provider order and base URLs, rate limits, origins, "
                                 "timeouts and limits are valid")


_POSITIVE = ("AICHAT_CONNECT_TIMEOUT", "AICHAT_FIRST_TOKEN_TIMEOUT", "AICHAT_TOTAL_TIMEOUT", "AICHAT_MAX_ATTEMPTS",
             "AICHAT_CIRCUIT_FAILURES", "AICHAT_CIRCUIT_WINDOW", "AICHAT_USAGE_BATCH_SIZE", "AICHAT_USAGE_QUEUE_MAX",
             "AICHAT_MAX_TOKENS_LIMIT", "AICHAT_MAX_MESSAGES", "AICHAT_MAX_BODY_BYTES", "AICHAT_WORKERS",
             "AICHAT_VERIFY_TIMEOUT", "AICHAT_READY_TIMEOUT", "AICHAT_STOP_DEADLINE")


def _problems(app: Flask) -> Iterator[str]:
    from limits import parse_many
    from sqlalchemy.engine import make_url

    from aichat.gateway import UnknownModel

    config = app.config
    try:
        make_url(config["SQLALCHEMY_DATABASE_URI"])
    except Exception:  # noqa: BLE001 - the URL itself may hold a password: never echo it
        yield "DATABASE_URL (not a database URL, e.g. postgresql://user:password@host/aichat)"
    unknown = [name for name in config["AICHAT_PROVIDER_ORDER"] if name not in ("openai", "gemini")]
    if unknown:
        yield f"AICHAT_PROVIDER_ORDER (unknown {', '.join(unknown)}; known: gemini, openai)"
    for name in ("OPENAI", "GEMINI"):
        url = config[f"{name}_BASE_URL"]
        if config[f"{name}_API_KEY"] and not _http_url(url):
            yield f"{name}_BASE_URL ({url!r} is not an http(s) URL)"
    for name in ("AICHAT_RATE_LIMIT", "AICHAT_LOGIN_RATE_LIMIT"):
        if name == "AICHAT_RATE_LIMIT" and config[name].strip().lower() == "off":
            continue
        try:
            parse_many(config[name])
        except ValueError:
            yield f"{name} ({config[name]!r} is not a limit like 30/minute)"
    origins = [o for o in config["AICHAT_ALLOWED_ORIGINS"] if not _origin(o)]
    if origins:
        yield f"AICHAT_ALLOWED_ORIGINS ({', '.join(map(repr, origins))}: an origin is scheme://host[:port])"
    if config["AICHAT_DEFAULT_MODEL"]:
        try:
            runtime_of(app).gateway.router.resolve(config["AICHAT_DEFAULT_MODEL"])
        except UnknownModel:
            yield f"AICHAT_DEFAULT_MODEL ({config['AICHAT_DEFAULT_MODEL']!r} belongs to no configured provider)"
    for name in _POSITIVE:
        value = config.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            yield f"{name} (must be a positive number, is {value!r})"
    if not isinstance(logging.getLevelName(str(config["AICHAT_LOG_LEVEL"]).upper()), int):
        yield f"AICHAT_LOG_LEVEL ({config['AICHAT_LOG_LEVEL']!r}; use DEBUG, INFO, WARNING or ERROR)"


def _http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _origin(origin: str) -> bool:
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.path in ("", "/") \
        and not parts.query and not parts.fragment


def client_keys(app: Flask) -> Check:
    """AICHAT_API_KEYS still works (as keys of the local site) but cannot expire, be limited, rotated or revoked
    without a restart: each should become a stored key made with `flask keys create`."""
    keys = app.config["AICHAT_API_KEYS"]
    if not keys:
        stored = sum(1 for key in runtime_of(app).directory.keys.values() if key.id is not None)
        if not stored:
            return Check("client_keys", WARN, "no client keys, so /v1/chat/completions and /v1/models refuse every "
                                              "call: create one per server or SDK caller with `flask keys create "
                                              "--site DOMAIN`")
        return Check("client_keys", OK, f"{stored} client key{'s' if stored != 1 else ''} in the database "
                                        "(flask keys list)")
    count = f"{len(keys)} key{'s' if len(keys) != 1 else ''}"
    short = sum(1 for key in keys if len(key) < 20)
    weak = f"; {short} of them shorter than 20 characters" if short else ""
    return Check("client_keys", WARN, f"AICHAT_API_KEYS holds {count}{weak}: a setting to migrate. Create a key per "
                                      "caller with `flask keys create --site DOMAIN`, give it to that caller, then "
                                      "remove AICHAT_API_KEYS; stored keys can expire, be limited to models, "
                                      "rotated and revoked without a restart")


def cookies(app: Flask) -> Check:
    """The console's session cookie must not travel over plain HTTP in production."""
    if app.config["SESSION_COOKIE_SECURE"]:
        return Check("cookies", OK, "the session cookie is Secure (HTTPS only)")
    if app.config["AICHAT_ENV"] == "production":
        return Check("cookies", WARN, "SESSION_COOKIE_SECURE is off, so the console's session cookie may travel "
                                      "unencrypted: serve the console over HTTPS and set SESSION_COOKIE_SECURE=true "
                                      "(or leave it unset: production turns it on)")
    return Check("cookies", OK, "SESSION_COOKIE_SECURE off, which is fine in development")


# Shapes of provider keys: OpenAI (sk-…, sk-proj-…) and Google API keys (AIza + 35).
_KEY_SHAPES = (
    ("an OpenAI-style key (sk-…)", re.compile(rb"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}")),
    ("a Google API key (AIza…)", re.compile(rb"(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}")),
)
_SCAN_MAX_FILES = 5000
_SCAN_MAX_BYTES = 8 * 1024 * 1024  # larger files are skipped: no template or script of ours is that big


def exposed_keys(app: Flask) -> Check:
    """No provider or client key in a file the web server serves (static/) or renders (templates/)."""
    secrets = _configured_secrets(app)
    folders = [f for f in (app.static_folder, _template_folder(app)) if f and os.path.isdir(f)]
    found: list[str] = []
    scanned = 0
    for folder, path in _files(folders):
        scanned += 1
        if scanned > _SCAN_MAX_FILES:
            break
        try:
            if os.path.getsize(path) > _SCAN_MAX_BYTES:
                continue
            with open(path, "rb") as file:
                data = file.read()
        except OSError:
            continue
        what = next((setting for setting, value in secrets if value in data), None)
        what = what or next((shape for shape, pattern in _KEY_SHAPES if pattern.search(data)), None)
        if what:
            found.append(f"{os.path.basename(folder)}/{os.path.relpath(path, folder)} holds {what}")
    if found:
        return Check("exposed_keys", FAIL, f"{'; '.join(found[:5])}: remove it from the file, and revoke and replace "
                                           f"that key, since anyone who loaded the page may have it")
    return Check("exposed_keys", OK, f"no configured or key-shaped secret in {scanned} files under "
                                     f"{' and '.join(os.path.basename(os.path.normpath(f)) + '/' for f in folders) or 'no folder'}")


def _configured_secrets(app: Flask) -> list[tuple[str, bytes]]:
    """(setting, value) of every secret the config holds; short values would match by chance."""
    pairs = []
    for setting in ("OPENAI_API_KEY", "GEMINI_API_KEY", "AICHAT_API_KEYS", "AICHAT_METRICS_TOKEN"):
        values = app.config.get(setting) or []
        for value in [values] if isinstance(values, str) else values:
            if len(value) >= 8:
                pairs.append((f"the value of {setting}", value.encode()))
    return pairs


def _template_folder(app: Flask) -> str | None:
    return os.path.join(app.root_path, app.template_folder) if app.template_folder else None


def _files(folders: list[str]) -> Iterator[tuple[str, str]]:
    """(folder, path) of every file below each folder, in a stable order."""
    for folder in folders:
        folder = os.path.normpath(folder)
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            for name in sorted(files):
                yield folder, os.path.join(root, name)
