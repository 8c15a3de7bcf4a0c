"""What the app talks to and offers: database, rate-limit storage, site frontends, routes."""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Flask

from .base import FAIL, OK, WARN, Check


def database(app: Flask) -> Check:
    """Reachable, and migrated to the revision this code expects."""
    from aichat.extensions import db
    from aichat.health.schema import current_heads, missing_sqlite_file, script_heads

    url = db.engine.url
    if missing_sqlite_file(url):
        return Check("database", FAIL, f"no database file at {url.database}: run `flask db upgrade`")
    try:
        current = current_heads(db.engine)
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
        return Check("database", FAIL, f"cannot connect ({type(exc).__name__}): check DATABASE_URL "
                                       f"and that the database server is running")
    heads = script_heads(app.extensions["migrate"].directory)
    where = url.render_as_string(hide_password=True)
    if current != heads:
        found = ", ".join(sorted(current)) or "no schema"
        return Check("database", FAIL, f"{where} is at {found}, this version needs {', '.join(sorted(heads))}: "
                                       f"run `flask db upgrade`")
    at_head = f"{where}, migrations at head ({', '.join(sorted(heads))})"
    if url.get_backend_name() == "sqlite" and app.config["AICHAT_ENV"] == "production":
        return Check("database", WARN, f"{at_head}; SQLite serves one instance only: set DATABASE_URL to "
                                       f"PostgreSQL before running a second instance behind the balancer")
    return Check("database", OK, at_head)


def rate_limits(app: Flask) -> Check:
    """Rate-limit and budget counters: their storage reachable, and shared when several worker processes count.

    The limits engine (per address, site and key, and budgets) counts in Redis when REDIS_URL is set; the
    sign-in limit in Flask-Limiter's storage (AICHAT_RATELIMIT_STORAGE_URI, else REDIS_URL)."""
    shared = app.config["REDIS_URL"]
    login = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    storages = [uri for uri in dict.fromkeys((shared, login)) if uri and not uri.startswith("memory://")]
    timeout = min(3.0, app.config["AICHAT_VERIFY_TIMEOUT"])
    for uri in storages:
        try:
            _ping(uri, timeout)
        except Exception as exc:  # noqa: BLE001 - unreachable, refused, auth: all mean limits cannot be counted
            return Check("rate_limits", FAIL, f"{_hide_password(uri)} unreachable ({type(exc).__name__}): start it "
                                              f"or fix REDIS_URL / AICHAT_RATELIMIT_STORAGE_URI")
    if shared:
        return Check("rate_limits", OK, f"{_hide_password(shared)} reachable, shared by all workers")
    workers = app.config["AICHAT_WORKERS"]
    if workers > 1:
        return Check("rate_limits", WARN, f"counted in memory by each of {workers} workers, so a client gets up to "
                                          f"{workers}x AICHAT_RATE_LIMIT and every site's and key's limits and "
                                          f"budgets {workers}x: set REDIS_URL to share the counters")
    return Check("rate_limits", OK, "counted in memory (one worker process)")


def _ping(uri: str, timeout: float) -> None:
    if uri.split(":", 1)[0] in ("redis", "rediss", "redis+unix"):
        import redis

        client = redis.Redis.from_url(uri.replace("redis+unix", "unix"), socket_connect_timeout=timeout,
                                      socket_timeout=timeout)
        try:
            client.ping()
        finally:
            client.close()
        return
    from limits.storage import storage_from_string

    if not storage_from_string(uri).check():
        raise ConnectionError("the storage's health check said no")


def _hide_password(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


# The endpoints aichat promises; a missing one means a blueprint failed to register.
EXPECTED_ENDPOINTS = (
    "health.live", "health.ready", "health.verify", "metrics.scrape",
    "proxy.chat", "caller_stats.caller_stats",
    "openai.chat_completions", "openai.models", "openapi.openapi_json",
    "monitoring.summary", "monitoring.daily", "monitoring.providers", "monitoring.recent_errors",
    "monitoring.export_daily", "monitoring.export_logs",
    "admin.login", "admin.login_submit", "admin.logout", "admin.index",
)


def routes(app: Flask, expected: tuple[str, ...] = EXPECTED_ENDPOINTS) -> Check:
    """Every endpoint the product promises is registered."""
    registered = {rule.endpoint for rule in app.url_map.iter_rules()}
    missing = [endpoint for endpoint in expected if endpoint not in registered]
    if missing:
        return Check("routes", FAIL, f"missing {', '.join(missing)}: this install is incomplete or a blueprint failed "
                                     f"to register; reinstall the release and check the startup log")
    return Check("routes", OK, f"all {len(expected)} expected endpoints registered ({len(registered)} in all)")


def frontends(app: Flask) -> Check:
    """The pages allowed to call us (every enabled site's origins, AICHAT_ALLOWED_ORIGINS among them: the local
    site's) answer; optional, so never a failure."""
    from aichat.runtime import runtime_of

    sites = [site for site in runtime_of(app).directory.sites.values() if site.enabled]
    origins = list(dict.fromkeys(origin for site in sorted(sites, key=lambda s: s.domain)
                                 for origin in sorted(site.origins)))
    if not origins:
        return Check("frontends", OK, "none configured (no enabled site lists an origin)")
    import requests

    # Each site gets a fair share of the check's time, so several slow ones cannot make it hang.
    timeout = max(0.5, min(3.0, app.config["AICHAT_VERIFY_TIMEOUT"] * 0.8 / len(origins)))
    found, bad = [], 0
    for origin in origins[:10]:
        started = time.perf_counter()
        try:
            answer = requests.get(origin, timeout=timeout, headers={"User-Agent": "aichat-verify"})
            answer.close()
        except requests.RequestException as exc:
            bad += 1
            found.append(f"{origin} unreachable ({_why(exc)})")
            continue
        ms = round((time.perf_counter() - started) * 1000)
        if answer.status_code >= 400:
            bad += 1
            found.append(f"{origin} answered HTTP {answer.status_code}")
        else:
            found.append(f"{origin} {answer.status_code} in {ms} ms")
    if bad:
        return Check("frontends", WARN, f"{'; '.join(found)}: check that site is up, or remove the origin from "
                                        f"its site (flask sites update DOMAIN --remove-origin URL, or "
                                        f"AICHAT_ALLOWED_ORIGINS for the local site)")
    return Check("frontends", OK, "; ".join(found))


def _why(exc: Exception) -> str:
    import requests

    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection failed"
    return type(exc).__name__
