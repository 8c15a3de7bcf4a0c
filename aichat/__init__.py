"""aichat: a self-hosted AI chat gateway. `create_app()` builds the Flask app."""
from __future__ import annotations

import atexit
import os
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import config
from .runtime import KEY, Runtime, runtime_of

__version__ = "0.5.0"


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """The app: configuration, extensions, the gateway, blueprints, commands."""
    app = Flask(__name__, instance_relative_config=True, template_folder="../templates", static_folder="../static")
    config.load(app, test_config)
    app.json.sort_keys = False
    init_instance(app)
    init_network(app)
    init_telemetry(app)
    init_extensions(app)
    init_limits(app)
    init_gateway(app)
    init_web(app)
    init_cli(app)
    return app


def init_instance(app: Flask) -> None:
    os.makedirs(app.instance_path, exist_ok=True)
    app.extensions[KEY] = Runtime(started=time.time())


def init_network(app: Flask) -> None:
    """The client address through the trusted proxies; the address rules of the admin, monitoring and metrics."""
    from .network import init_network as init

    init(app)


def init_telemetry(app: Flask) -> None:
    """Request logs and metrics; the lifecycle that SIGTERM starts draining."""
    from .lifecycle import Lifecycle
    from .telemetry import init_telemetry as init

    runtime_of(app).lifecycle = Lifecycle(app.config["AICHAT_STOP_DEADLINE"])
    init(app)


def init_extensions(app: Flask) -> None:
    from . import models  # noqa: F401 - the models must be known to migrations
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from .extensions import csrf, db, limiter, login_manager, migrate, tune_sqlite
    from .ratelimit import init_rate_limit_storage

    if not event.contains(Engine, "connect", tune_sqlite):
        event.listen(Engine, "connect", tune_sqlite)
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = (app.config["AICHAT_RATELIMIT_STORAGE_URI"]
                                               or app.config["REDIS_URL"] or "memory://")
    init_rate_limit_storage(app)
    # One limiter object serves every app built in a process (tests build many): default limits
    # come from this app's own RATELIMIT_DEFAULT, not from whichever app was built before it.
    limiter.limit_manager.set_default_limits([])
    limiter.init_app(app)
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "admin.login"


def init_limits(app: Flask) -> None:
    """The limits and budgets of sites and client keys: counted in memory, or in Redis when REDIS_URL is set."""
    from .api.limits import init_limits as init

    init(app)


def init_gateway(app: Flask) -> None:
    """The usage recorder and background jobs, the health registry, and the live gateway (rebuilt when upstreams
    change); SDK clients live as long as the upstream they serve."""
    from .api.limits import settler
    from .audit import add_prune as add_audit_prune
    from .chat.recording import TurnWriter, database_writer
    from .chat.retention import add_prune as add_conversation_prune
    from .api.validation import Limits
    from .gateway import build_health
    from .jobs import Jobs
    from .tenancy import last_used
    from .tenancy.live import LiveTenancy
    from .upstreams.live import LiveGateway
    from .telemetry import metrics_of, observing
    from .usage.background import add_rollup
    from .usage.recorder import UsageRecorder
    from .usage.store import UsageStore

    runtime = runtime_of(app)
    metrics = metrics_of(app)
    runtime.jobs = jobs = Jobs()  # started and stopped with the usage writer
    add_rollup(jobs, app)
    add_audit_prune(jobs, app)
    add_conversation_prune(jobs, app)
    store = UsageStore(app, on_written=metrics.written, tally=metrics.usage)
    recorder = UsageRecorder(store, app.config["AICHAT_USAGE_BATCH_SIZE"], app.config["AICHAT_USAGE_FLUSH_INTERVAL"],
                             companion=jobs, queue_max=app.config["AICHAT_USAGE_QUEUE_MAX"], tally=metrics.usage)
    atexit.register(recorder.close)
    runtime.recorder = recorder

    def built(gateway) -> None:
        # Every new gateway's circuits are followed (each breaker once: health outlives gateways).
        metrics.watch_circuits(gateway.upstreams.values())

    # Circuit and key health outlive any one gateway; shared through Redis when REDIS_URL is set.
    health = runtime.health = build_health(app.config, runtime.redis)
    runtime.live = live = LiveGateway(app, observing(app, recorder.submit), health, on_build=built)
    # Each call holding a limits reservation is settled when it ends (rebuilt gateways keep their hooks).
    live.gateway.call_end_hooks.append(settler(app, runtime.quota))
    # A conversation's call stores its question and answer when it ends, off the request path.
    runtime.turns = turns = TurnWriter(database_writer(app), app.config["AICHAT_USAGE_QUEUE_MAX"], metrics.turns)
    atexit.register(turns.close)
    live.gateway.call_end_hooks.append(turns.hook)
    jobs.every("upstream-config", app.config["AICHAT_CONFIG_POLL_INTERVAL"], live.poll)  # in every process
    # gunicorn starts a worker's writer and jobs after fork (gunicorn.conf.py); elsewhere the first request does.
    app.before_request(recorder.start)
    runtime.limits = Limits(app.config["AICHAT_MAX_TOKENS_LIMIT"], app.config["AICHAT_MAX_MESSAGES"])
    runtime.tenancy = tenancy = LiveTenancy(app)
    jobs.every("tenancy-config", app.config["AICHAT_CONFIG_POLL_INTERVAL"], tenancy.poll)  # in every process
    runtime.keys_used = keys_used = last_used.LastUsed(app)
    app.after_request(keys_used.after_request)
    jobs.every("client-keys-last-used", last_used.RESOLUTION, keys_used.flush)  # in every process


def init_web(app: Flask) -> None:
    from .admin.views import bp as admin_bp
    from .api import register_api
    from .demo import bp as demo_bp
    from .headers import init_security_headers
    from .health.views import bp as health_bp
    from .home import bp as home_bp
    from .i18n import init_i18n
    from .request_id import init_request_ids
    from .telemetry.views import bp as metrics_bp

    init_request_ids(app)
    init_security_headers(app)
    init_i18n(app)
    register_api(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(demo_bp)
    app.register_blueprint(home_bp)


def init_cli(app: Flask) -> None:
    from .cli import register_cli

    register_cli(app)
