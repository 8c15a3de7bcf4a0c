"""The gateway: plain Python, no Flask. `build_gateway` turns upstream specs into a ready pipeline."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from aichat.providers import provider_class
from aichat.providers.base import Timeouts

from .health import HealthRegistry, build_health
from .pipeline import CallContext, ChatResult, Gateway, Interrupted, NoUpstreamAvailable, StreamSession
from .routing import Router, UnknownModel
from .specs import KeySpec, UpstreamSpec
from .tokens import load_counter
from .upstreams import KeySlot, Upstream

__all__ = ["CallContext", "ChatResult", "Gateway", "HealthRegistry", "Interrupted", "NoUpstreamAvailable",
           "StreamSession", "UnknownModel", "UpstreamSpec", "build_gateway", "build_health"]

# What answers when no upstream is configured: every answer says it is not an AI.
DEMO_SPEC = UpstreamSpec("demo", "demo", "", (KeySpec("demo", ""),), (), "demo")


def build_gateway(settings: Mapping, specs: Sequence[UpstreamSpec], sink: Callable[[dict], None],
                  previous: Gateway | None = None, health: HealthRegistry | None = None,
                  aliases: Mapping[str, str] | None = None) -> Gateway:
    """Enabled upstreams with an enabled key become the pipeline's upstreams; with none, the demo.

    SDK clients are built here, once per upstream; an upstream whose spec is unchanged since
    `previous` was built is taken over as it is, with its clients. Breakers and benched keys come
    from `health` by name, so they outlive any one gateway (and are shared through Redis when set).
    `aliases` are the stored model aliases; the environment's (AICHAT_MODEL_ALIASES) win over them.
    """
    timeouts = Timeouts(settings["AICHAT_CONNECT_TIMEOUT"], settings["AICHAT_FIRST_TOKEN_TIMEOUT"],
                        settings["AICHAT_TOTAL_TIMEOUT"])
    health = health or build_health(settings, share=False)

    def build(spec: UpstreamSpec) -> Upstream:
        kept = previous.upstreams.get(spec.name) if previous is not None else None
        if kept is not None and kept.spec == spec:
            return kept
        if spec.kind == "demo":
            adapter = provider_class("demo")()
        else:
            adapter = provider_class(spec.kind)(spec.base_url, timeouts, settings["AICHAT_UPSTREAM_POOL_SIZE"])
        slots = [KeySlot(key.label, adapter.make_client(key.secret), health.circuit(f"{spec.name}/{key.label}"),
                         health.key(spec.name, key.label)) for key in spec.keys if key.enabled]
        return Upstream(spec.name, adapter, spec.default_model, slots, health.circuit(spec.name),
                        settings["AICHAT_KEY_RETEST_INTERVAL"], kind=spec.kind, spec=spec)

    live = [spec for spec in specs if spec.enabled and any(key.enabled for key in spec.keys)] or [DEMO_SPEC]
    upstreams = {spec.name: build(spec) for spec in live}
    default_model = settings["AICHAT_DEFAULT_MODEL"] if live[0] is not DEMO_SPEC else ""
    router = Router(live, settings["AICHAT_PROVIDER_ORDER"],
                    {**(aliases or {}), **settings["AICHAT_MODEL_ALIASES"]}, default_model)
    counter = load_counter(settings["TIKTOKEN_CACHE_DIR"]) if settings.get("TIKTOKEN_CACHE_DIR") else None
    return Gateway(upstreams, router, sink, settings["AICHAT_MAX_ATTEMPTS"], timeouts.total, counter)
