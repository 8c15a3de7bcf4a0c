"""Providers: keys and circuit states from the gateway, and with --live one tiny real call each."""
from __future__ import annotations

import time
import uuid

from flask import Flask

from .base import FAIL, OK, WARN, Check
from aichat.runtime import runtime_of


def names(app: Flask) -> list[str]:
    """The configured providers, in the gateway's failover order."""
    gateway = runtime_of(app).gateway
    order = [name for name in app.config["AICHAT_PROVIDER_ORDER"] if name in gateway.upstreams]
    return order + [name for name in gateway.upstreams if name not in order]


def provider(app: Flask, name: str, live: bool = False) -> Check:
    """One provider: its key labels and count, circuit and key states, and with `live` a timed tiny call."""
    gateway = runtime_of(app).gateway
    upstream = gateway.upstreams[name]
    check = f"provider:{name}"
    if name == "demo":
        status = WARN if app.config["AICHAT_ENV"] == "production" else OK
        return Check(check, status, "no OPENAI_API_KEY or GEMINI_API_KEY, so the demo responder answers every chat: "
                                    "set a provider key")
    health = upstream.health()
    labels = ", ".join(k["label"] for k in health["keys"])
    found = f"{len(upstream.keys)} key{'s' if len(upstream.keys) != 1 else ''} ({labels}), model " \
            f"{upstream.default_model}, circuit {health['circuit']}"
    benched = [f"{k['label']} benched ({k['invalid']})" for k in health["keys"] if k["invalid"]]
    tripped = [f"{k['label']} circuit {k['circuit']}" for k in health["keys"]
               if not k["invalid"] and k["circuit"] != "closed"]
    if not upstream.usable():
        others = [other for other, up in gateway.upstreams.items() if other != name and up.usable()]
        if others:
            return Check(check, WARN, f"{found}, not usable now{_list(benched + tripped)}; calls fail over to "
                                      f"{', '.join(others)}: see the recent errors for why")
        return Check(check, FAIL, f"{found}, not usable now{_list(benched + tripped)}, and no other provider is: "
                                  f"every chat fails until it recovers; see the recent errors for why")
    if live:
        return _live(gateway, name, check, found)
    if benched:
        return Check(check, WARN, f"{found}; {', '.join(benched)}: replace that key in {name.upper()}_API_KEY")
    return Check(check, OK, found + _list(tripped))


def _live(gateway, name: str, check: str, found: str) -> Check:
    from aichat.gateway import CallContext, NoUpstreamAvailable
    from aichat.providers.base import ProviderError

    ctx = CallContext(request_id=f"verify-{uuid.uuid4().hex[:16]}", endpoint="verify", caller="verify")
    started = time.perf_counter()
    try:
        completion = gateway.probe(name, ctx)
    except NoUpstreamAvailable:
        return Check(check, FAIL, f"{found}; live call not made: no usable key")
    except ProviderError as err:
        ms = round((time.perf_counter() - started) * 1000)
        return Check(check, FAIL, f"{found}; live call failed after {ms} ms: {err.code} ({err.message[:120]}): "
                                  f"check the key and {name.upper()}_BASE_URL")
    ms = round((time.perf_counter() - started) * 1000)
    tokens = completion.usage.total_tokens if completion.usage else None
    return Check(check, OK, f"{found}; live call answered in {ms} ms by {completion.model}"
                            + (f" ({tokens} tokens)" if tokens is not None else ""))


def _list(items: list[str]) -> str:
    return f" ({', '.join(items)})" if items else ""
