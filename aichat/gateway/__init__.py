"""The gateway: plain Python, no Flask. `build_gateway` turns settings into a ready pipeline."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from aichat.providers import provider_class
from aichat.providers.base import Timeouts

from .breaker import CircuitBreaker
from .pipeline import CallContext, ChatResult, Gateway, Interrupted, NoUpstreamAvailable, StreamSession
from .routing import Router, UnknownModel
from .tokens import load_counter
from .upstreams import KeySlot, Upstream

__all__ = ["CallContext", "ChatResult", "Gateway", "Interrupted", "NoUpstreamAvailable", "StreamSession",
           "UnknownModel", "build_gateway"]


def build_gateway(settings: Mapping, sink: Callable[[dict], None]) -> Gateway:
    """Providers with keys become upstreams (SDK clients built once, here); with none, the demo."""
    timeouts = Timeouts(settings["AICHAT_CONNECT_TIMEOUT"], settings["AICHAT_FIRST_TOKEN_TIMEOUT"],
                        settings["AICHAT_TOTAL_TIMEOUT"])

    def breaker() -> CircuitBreaker:
        return CircuitBreaker(settings["AICHAT_CIRCUIT_FAILURES"], settings["AICHAT_CIRCUIT_WINDOW"],
                              settings["AICHAT_CIRCUIT_COOLDOWN"])

    upstreams: dict[str, Upstream] = {}
    for name in ("openai", "gemini"):
        keys = settings[f"{name.upper()}_API_KEY"]
        if not keys:
            continue
        adapter = provider_class(name)(settings[f"{name.upper()}_BASE_URL"], timeouts,
                                       settings["AICHAT_UPSTREAM_POOL_SIZE"])
        slots = [KeySlot(f"{name}#{i}", adapter.make_client(key), breaker())
                 for i, key in enumerate(keys, 1)]
        upstreams[name] = Upstream(name, adapter, settings[f"{name.upper()}_MODEL"], slots, breaker(),
                                   settings["AICHAT_KEY_RETEST_INTERVAL"])
    if not upstreams:
        adapter = provider_class("demo")()
        upstreams["demo"] = Upstream("demo", adapter, "demo", [KeySlot("demo", None, breaker())], breaker())

    router = Router({name: up.default_model for name, up in upstreams.items()},
                    settings["AICHAT_PROVIDER_ORDER"], settings["AICHAT_MODEL_ALIASES"],
                    settings["AICHAT_DEFAULT_MODEL"] if "demo" not in upstreams else "")
    counter = load_counter(settings["TIKTOKEN_CACHE_DIR"]) if settings.get("TIKTOKEN_CACHE_DIR") else None
    return Gateway(upstreams, router, sink, settings["AICHAT_MAX_ATTEMPTS"], timeouts.total, counter)
