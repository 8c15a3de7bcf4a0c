"""One tiny call through one upstream with one of its keys: the `test` of the CLI and the console.

The call goes through a gateway of that upstream alone, built for it and thrown away: nothing is
recorded as traffic, and the live gateway's breakers and benched keys are left as traffic set them.
The result holds no key, and its error message is redacted of the key and of anything shaped like one.
"""
from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from aichat.gateway.specs import KeySpec, SpecError, UpstreamSpec

MAX_TOKENS = 5
TIMEOUT = 15.0  # seconds the whole test call may take, at most (less when the gateway's own timeouts are shorter)
REPLY_CHARS = 80  # how much of the reply is shown


@dataclass(frozen=True)
class Result:
    upstream: str
    label: str
    ok: bool
    ms: int
    model: str | None = None
    reply: str = ""
    tokens: int | None = None
    code: str | None = None
    status: int | None = None
    message: str = ""


def spec_of(session, settings: Mapping, name: str, keyring: Callable[[], object]) -> UpstreamSpec | None:
    """Upstream `name` as the gateway would be built from it, keys decrypted (`keyring()` is called only for a
    stored one); None when there is no such upstream."""
    from aichat.gateway.specs import environment_specs

    from . import store

    found = next((s for s in environment_specs(settings) if s.name == name), None)
    if found is not None or store.find(session, name) is None:
        return found
    return next(s for s in store.database_specs(session, keyring()) if s.name == name)


def key_to_test(spec: UpstreamSpec, label: str | None = None) -> KeySpec:
    """Key `label`, or the first enabled key; a SpecError when there is none."""
    if label:
        key = next((k for k in spec.keys if k.label == label), None)
        if key is None:
            raise SpecError(f"upstream {spec.name!r} has no key labelled {label!r}")
        return key
    key = next((k for k in spec.keys if k.enabled), None)
    if key is None:
        raise SpecError(f"upstream {spec.name!r} has no enabled key: add one first")
    return key


def _settings(settings: Mapping) -> dict:
    out = dict(settings)
    for name in ("AICHAT_CONNECT_TIMEOUT", "AICHAT_FIRST_TOKEN_TIMEOUT", "AICHAT_TOTAL_TIMEOUT"):
        out[name] = min(float(settings[name]), TIMEOUT)
    return out


def run(settings: Mapping, spec: UpstreamSpec, label: str | None = None, caller: str = "console") -> Result:
    """Test `spec` (even while it is disabled) with key `label` or its first enabled key."""
    from aichat.gateway import CallContext, NoUpstreamAvailable, build_gateway
    from aichat.providers.base import ProviderError, redact

    key = key_to_test(spec, label)
    alone = replace(spec, keys=(replace(key, enabled=True),), enabled=True)
    gateway = build_gateway(_settings(settings), [alone], lambda record: None)
    ctx = CallContext(request_id=f"test-{uuid.uuid4().hex[:16]}", endpoint="test", caller=caller)
    started = time.perf_counter()
    try:
        completion = gateway.probe(spec.name, ctx, max_tokens=MAX_TOKENS)
    except (ProviderError, NoUpstreamAvailable) as err:
        message = str(getattr(err, "message", err))
        return Result(spec.name, key.label, False, _ms(started), code=getattr(err, "code", "no_upstream_available"),
                      status=getattr(err, "status", None), message=redact(message, [key.secret])[:200])
    tokens = completion.usage.total_tokens if completion.usage else None
    reply = redact(" ".join((completion.content or "").split()), [key.secret])[:REPLY_CHARS]
    return Result(spec.name, key.label, True, _ms(started), completion.model or spec.default_model, reply, tokens)


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
