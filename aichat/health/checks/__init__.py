"""The deployment check behind `flask verify` and /health/verify: each entry says ok, warn or fail, and what to do.

Checks run one after another, each in its own thread with a time limit (AICHAT_VERIFY_TIMEOUT),
so a hung database or upstream becomes a failed entry rather than a hung command.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import partial

from flask import Flask

from . import providers as _providers
from .base import FAIL, OK, WARN, Check, bounded, worst
from .host import instance, process, python
from .services import database, frontends, rate_limits, routes
from .settings import client_keys, cookies, debug, exposed_keys, secret_key, settings
from .upstreams import encryption
from .usage import errors, prices, tokenizer

__all__ = ["FAIL", "OK", "WARN", "Check", "database", "report", "run_checks"]

# In order of what an operator fixes first; providers are inserted after rate_limits, one entry each.
CHECKS: list[Callable[[Flask], Check]] = [instance, process, secret_key, debug, settings, client_keys, cookies,
                                          exposed_keys, database, encryption, rate_limits, routes, frontends, errors,
                                          tokenizer, prices, python]
NEEDS_DATABASE = {"encryption", "errors", "prices"}


def plan(app: Flask, live: bool = False) -> list[tuple[str, Callable[[Flask], Check]]]:
    """(name, check) in the order they run."""
    planned = []
    for check in CHECKS:
        planned.append((check.__name__, check))
        if check is rate_limits:
            planned += [(f"provider:{name}", partial(_providers.provider, name=name, live=live))
                        for name in _providers.names(app)]
    return planned


def run_checks(app: Flask, live: bool = False, timeout: float | None = None) -> list[Check]:
    """Every check, in order; a check that breaks or hangs is reported as failed, never raised."""
    timeout = timeout or app.config["AICHAT_VERIFY_TIMEOUT"]
    results: list[Check] = []
    for name, check in plan(app, live):
        if name in NEEDS_DATABASE and any(r.name == "database" and r.status == FAIL for r in results):
            results.append(Check(name, WARN, "not checked: the database check failed"))
            continue
        results.append(bounded(app, name, check, timeout))
    return results


def report(results: list[Check], version: str | None = None) -> dict:
    """The JSON document `flask verify --json` prints and /health/verify returns."""
    if version is None:
        from aichat import __version__ as version
    status = worst(results)
    return {"ok": status != FAIL, "status": status, "version": version,
            "checks": [check.as_dict() for check in results]}
