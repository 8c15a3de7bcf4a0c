"""The gateway: plain Python, no Flask. `build_gateway` turns settings into a ready pipeline."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from aichat.providers import provider_class
from aichat.providers.base import Timeouts

from .health import HealthRegistry, build_health
from .pipeline import CallContext, ChatResult, Gateway, Interrupted, NoUpstreamAvailable, StreamSession
from .routing import Router, UnknownModel
from .tokens import load_counter
from .upstreams import KeySlot, Upstream

__all__ = ["CallContext", "ChatResult", "Gateway", "HealthRegistry", "Interrupted", "NoUpstreamAvailable",
           "StreamSession", "UnknownModel", "build_gateway", "build_health"]


def build_gateway(settings: Mapping, sink: Callable[[dict], None], health: HealthRegistry | None = None) -> Gateway:
    """Providers with keys become upstreams (SDK clients built once, here); with none, the demo.

    Breakers and benched keys come from `health`, so they outlive the gateway when it is rebuilt."""
    timeouts = Timeouts(settings["AICHAT_CONNECT_TIMEOUT"], settings["AICHAT_FIRST_TOKEN_TIMEOUT"],
                        settings["AICHAT_TOTAL_TIMEOUT"])
    health = health or build_health(settings, share=False)

    upstreams: dict[str, Upstream] = {}
    for name in ("openai", "gemini"):
        keys = settings[f"{name.upper()}_API_KEY"]
        if not keys:
            continue
        adapter = provider_class(name)(settings[f"{name.upper()}_BASE_URL"], timeouts,
                                       settings["AICHAT_UPSTREAM_POOL_SIZE"])
        labels = [f"{name}#{i}" for i in range(1, len(keys) + 1)]
        slots = [KeySlot(label, adapter.make_client(key), health.circuit(f"{name}/{label}"), health.key(name, label))
                 for label, key in zip(labels, keys)]
        upstreams[name] = Upstream(name, adapter, settings[f"{name.upper()}_MODEL"], slots, health.circuit(name),
                                   settings["AICHAT_KEY_RETEST_INTERVAL"])
    if not upstreams:
        adapter = provider_class("demo")()
        upstreams["demo"] = Upstream("demo", adapter, "demo", [KeySlot("demo", None, health.circuit("demo/demo"),
                                                                       health.key("demo", "demo"))],
                                     health.circuit("demo"))

    router = Router({name: up.default_model for name, up in upstreams.items()},
                    settings["AICHAT_PROVIDER_ORDER"], settings["AICHAT_MODEL_ALIASES"],
                    settings["AICHAT_DEFAULT_MODEL"] if "demo" not in upstreams else "")
    counter = load_counter(settings["TIKTOKEN_CACHE_DIR"]) if settings.get("TIKTOKEN_CACHE_DIR") else None
    return Gateway(upstreams, router, sink, settings["AICHAT_MAX_ATTEMPTS"], timeouts.total, counter)
