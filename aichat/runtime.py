"""The typed per-app runtime: everything an app runs with besides its settings, in one object.

The factory's `init_*` steps fill it in, each its own part; everything else reads it through
`runtime_of(app)`. The gateway is not a field: it is whatever the live configuration holds now
(aichat/upstreams/live.py swaps it whole when upstreams change), so no reader keeps a stale copy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import Flask, current_app

if TYPE_CHECKING:
    from .api.validation import Limits
    from .chat.recording import TurnWriter
    from .dependency import Dependency
    from .gateway import Gateway, HealthRegistry
    from .health.ready import Readiness
    from .jobs import Jobs
    from .limits import Quota
    from .lifecycle import Lifecycle
    from .telemetry.metrics import Metrics
    from .tenancy.directory import Directory
    from .tenancy.last_used import LastUsed
    from .tenancy.live import LiveTenancy
    from .upstreams.live import LiveGateway
    from .usage.costing import PriceCache
    from .usage.recorder import UsageRecorder

KEY = "aichat"  # the runtime's place in app.extensions


@dataclass(eq=False)
class Runtime:
    started: float  # time.time() when the app was built: uptime in `flask verify`
    lifecycle: Lifecycle | None = None  # serving, then draining after SIGTERM
    metrics: Metrics | None = None
    redis: Dependency | None = None  # Redis's reachability, when REDIS_URL is set
    jobs: Jobs | None = None  # background work of this app
    recorder: UsageRecorder | None = None  # the usage rows' queue and writer
    turns: TurnWriter | None = None  # conversation turns' queue and writer
    health: HealthRegistry | None = None  # circuits and benched keys, outliving any one gateway
    live: LiveGateway | None = None  # the gateway in force and the configuration version it was built from
    limits: Limits | None = None  # request limits of the chat surfaces
    tenancy: LiveTenancy | None = None  # the sites and client keys in force
    keys_used: LastUsed | None = None  # client keys used since their last use was written
    quota: Quota | None = None  # the limits and budgets of sites and client keys, and their counters
    readiness: Readiness | None = None  # built on the first /health/ready
    prices: PriceCache | None = None  # built on the first priced row

    @property
    def gateway(self) -> Gateway:
        """The gateway in force now: take it once per request and keep it for that request."""
        return self.live.gateway

    @property
    def directory(self) -> Directory:
        """The sites and client keys in force now: take them once per request, like the gateway."""
        return self.tenancy.directory


def runtime_of(app: Flask | None = None) -> Runtime:
    """The runtime of `app` (the current app when not given)."""
    return (app if app is not None else current_app).extensions[KEY]
