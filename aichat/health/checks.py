"""Deployment checks shared by `flask verify`: each says ok, warn or fail, and what to do about it."""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from flask import Flask

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str  # ok | warn | fail
    reason: str  # what was found and, unless ok, what to do

    def as_dict(self) -> dict:
        return asdict(self)


def secret_key(app: Flask) -> Check:
    """SECRET_KEY signs the console's sessions: the built-in placeholder or a short key lets anyone forge one."""
    from aichat.config import DEFAULT_SECRET_KEY

    key = app.config.get("SECRET_KEY") or ""
    if key == DEFAULT_SECRET_KEY:
        return Check("secret_key", WARN, "SECRET_KEY is the built-in placeholder, so console sessions can be "
                                         "forged: set a long random value (python -c 'import secrets; "
                                         "print(secrets.token_urlsafe(48))') before admins log in")
    if len(key) < 32:
        return Check("secret_key", WARN, f"SECRET_KEY has only {len(key)} characters: use 32 or more random ones")
    return Check("secret_key", OK, "set, not the placeholder")


def database(app: Flask) -> Check:
    """Reachable, and migrated to the revision this code expects."""
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from aichat.extensions import db

    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:") \
            and not os.path.exists(url.database):
        # Connecting would create an empty file; say what is missing instead.
        return Check("database", FAIL, f"no database file at {url.database}: run `flask db upgrade`")
    try:
        with db.engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except Exception as exc:  # noqa: BLE001 - any failure to connect is the finding
        return Check("database", FAIL, f"cannot connect ({type(exc).__name__}): check DATABASE_URL "
                                       f"and that the database server is running")
    config = Config()
    config.set_main_option("script_location", app.extensions["migrate"].directory)
    heads = set(ScriptDirectory.from_config(config).get_heads())
    where = db.engine.url.render_as_string(hide_password=True)
    if current != heads:
        found = ", ".join(sorted(current)) or "no schema"
        return Check("database", FAIL, f"{where} is at {found}, this version needs {', '.join(sorted(heads))}: "
                                       f"run `flask db upgrade`")
    return Check("database", OK, f"{where}, migrations at head ({', '.join(sorted(heads))})")


def tokenizer(app: Flask) -> Check:
    """How tokens are counted when upstream reports none: tiktoken (which encodings) or the rule (why)."""
    from aichat.gateway.tokens import encoding_name

    counter = app.extensions["aichat.gateway"].counter
    described = counter.describe()
    if described["mode"] == "rule":
        return Check("tokenizer", WARN, f"estimates use the documented rule (CJK 1, else 4 characters a token): "
                                        f"{described['reason']}")
    loaded = ", ".join(described["encodings"])
    needed = encoding_name(app.config["OPENAI_MODEL"]) if app.config["OPENAI_API_KEY"] else None
    if needed and needed not in counter.encodings:
        return Check("tokenizer", WARN, f"tiktoken has {loaded} but OPENAI_MODEL {app.config['OPENAI_MODEL']} "
                                        f"needs {needed} ({counter.problems.get(needed, 'missing')}): run "
                                        f"`flask tokens fetch` on a connected machine and copy the files to "
                                        f"{counter.directory}")
    return Check("tokenizer", OK, f"tiktoken ({loaded}) from {counter.directory}; the rule for "
                                  f"{'; '.join(described['rule_for'])}")


def prices(app: Flask) -> Check:
    """Every configured provider's default model has a price today, so its calls are not unpriced."""
    from aichat.usage.costing import load_price_book

    models = {f"{name}_MODEL": app.config[f"{name}_MODEL"] for name in ("OPENAI", "GEMINI")
              if app.config[f"{name}_API_KEY"]}
    if not models:
        return Check("prices", OK, "no provider keys configured (demo responder); nothing is billed")
    try:
        book = load_price_book()
    except Exception as exc:  # noqa: BLE001
        return Check("prices", FAIL, f"cannot read the price table ({type(exc).__name__}): run `flask db upgrade`")
    now = datetime.now(timezone.utc)
    missing = [f"{model} ({setting})" for setting, model in models.items() if book.price_for(model, now, 1) is None]
    if missing:
        return Check("prices", WARN, f"no price today for {', '.join(missing)}: its calls are recorded unpriced; "
                                     f"add one with `flask prices set MODEL --input X --output Y`")
    return Check("prices", OK, f"{len(book)} price rows; priced: {', '.join(models.values())}")


CHECKS: list[Callable[[Flask], Check]] = [secret_key, database, tokenizer, prices]
NEEDS_DATABASE = {"prices"}


def run_checks(app: Flask) -> list[Check]:
    """Every check, in order; a check that breaks is reported as failed, never raised."""
    results: list[Check] = []
    for check in CHECKS:
        name = check.__name__
        if name in NEEDS_DATABASE and any(r.name == "database" and r.status == FAIL for r in results):
            results.append(Check(name, WARN, "not checked: the database check failed"))
            continue
        try:
            results.append(check(app))
        except Exception as exc:  # noqa: BLE001
            results.append(Check(name, FAIL, f"the check itself failed: {type(exc).__name__}: {exc}"))
    return results
