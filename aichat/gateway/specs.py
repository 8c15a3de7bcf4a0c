"""Upstreams as data: what one configured endpoint is, checked, before anything is built from it.

A spec comes from the environment (`OPENAI_*`, `GEMINI_*`: upstreams named `openai` and `gemini`)
or from the database (`flask upstreams …`); the gateway is built from a list of them and rebuilt
when the list changes. Specs hold key secrets in clear, in memory only: never log or show one.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

from aichat.providers import families

# Models each environment-defined kind serves besides its default model: its vendor's catalogue,
# as the provider's registration line declares it.
KIND_FAMILIES: dict[str, tuple[str, ...]] = families()
# Lower-case letters, digits, dot, dash, underscore; no slash: `name/model` names an upstream explicitly.
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._#@+-]{0,47}")
MAX_MODEL_LENGTH = 128  # what the chat surfaces accept as a model name


class SpecError(ValueError):
    """A configuration value that cannot work; the message is one line and names the value."""


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One key of an upstream: a label safe to show, the secret (never shown), and whether it is in use."""

    label: str
    secret: str = field(repr=False)
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class UpstreamSpec:
    """One configured endpoint: its name, its kind (the provider module that speaks its protocol), where it is,
    its keys, the models it serves (names and glob patterns), and its place in the failover order."""

    name: str
    kind: str
    base_url: str
    keys: tuple[KeySpec, ...]
    models: tuple[str, ...]
    default_model: str
    priority: int = 0  # higher goes first among the upstreams that serve a model
    enabled: bool = True
    source: str = "environment"  # environment | database

    def serves(self, model: str) -> bool:
        """Does this upstream serve `model` (by name, or by one of its patterns)?"""
        return model == self.default_model or any(fnmatchcase(model, pattern) for pattern in self.models)


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise SpecError(f"upstream name {name!r}: use 1 to 32 lower-case letters, digits, '.', '-' or '_', "
                        f"starting with a letter or digit")
    return name


def check_kind(kind: str, known: list[str]) -> str:
    if kind not in known:
        raise SpecError(f"unknown kind {kind!r}: expected one of {', '.join(known)}")
    return kind


def check_base_url(url: str) -> str:
    """An http(s) URL with a host; the trailing slash is dropped."""
    try:
        parts = urlsplit(url or "")
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme not in ("http", "https") or not host:
        raise SpecError(f"base URL {url!r}: expected an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise SpecError("base URL: put no credentials in the URL; add a key with `flask upstreams keys add`")
    return url.rstrip("/")


def check_model_pattern(pattern: str) -> str:
    """A model name or glob (`*`, `?`) that some request could send."""
    if not pattern or len(pattern) > MAX_MODEL_LENGTH:
        raise SpecError(f"model pattern {pattern!r}: expected 1 to {MAX_MODEL_LENGTH} characters")
    if not pattern.isprintable() or any(c.isspace() for c in pattern):
        raise SpecError(f"model pattern {pattern!r}: no spaces or control characters (no model name has them)")
    if "[" in pattern or "]" in pattern:
        raise SpecError(f"model pattern {pattern!r}: only '*' and '?' are wildcards")
    return pattern


def check_models(patterns: list[str]) -> tuple[str, ...]:
    checked = tuple(dict.fromkeys(check_model_pattern(p.strip()) for p in patterns if p.strip()))
    if not checked:
        raise SpecError("models: name at least one model or pattern, e.g. 'deepseek-*'")
    return checked


def check_default_model(model: str | None, patterns: tuple[str, ...]) -> str:
    """The model used when a request names none: given, or the first of `patterns` that is a plain name."""
    if model:
        if "*" in check_model_pattern(model) or "?" in model:
            raise SpecError(f"default model {model!r}: name one model, not a pattern")
        return model
    plain = next((p for p in patterns if "*" not in p and "?" not in p), None)
    if plain is None:
        raise SpecError("default model: every model given is a pattern; name the model to use when a request "
                        "names none")
    return plain


PRIORITY_RANGE = (-1000, 1000)


def check_priority(priority: int | str) -> int:
    """A whole number in PRIORITY_RANGE; higher goes first among the upstreams that serve a model."""
    low, high = PRIORITY_RANGE
    try:
        value = int(str(priority).strip())
    except ValueError:
        raise SpecError(f"priority {priority!r}: expected a whole number from {low} to {high}") from None
    if not low <= value <= high:
        raise SpecError(f"priority {value}: expected a whole number from {low} to {high}")
    return value


def check_label(label: str) -> str:
    if not _LABEL.fullmatch(label or ""):
        raise SpecError(f"key label {label!r}: use 1 to 48 letters, digits and '.', '_', '-', '#', '@', '+'")
    return label


def check_secret(secret: str) -> str:
    secret = (secret or "").strip()
    if not secret:
        raise SpecError("the key is empty")
    if any(c.isspace() for c in secret) or not secret.isprintable():
        raise SpecError("the key contains spaces or control characters")
    return secret


def environment_specs(settings: Mapping) -> list[UpstreamSpec]:
    """`OPENAI_*` and `GEMINI_*` as upstreams named `openai` and `gemini`, as they have always worked."""
    specs = []
    order = list(settings.get("AICHAT_PROVIDER_ORDER") or [])
    for kind in ("openai", "gemini"):
        secrets = settings.get(f"{kind.upper()}_API_KEY") or []
        if not secrets:
            continue
        keys = tuple(KeySpec(f"{kind}#{i}", secret) for i, secret in enumerate(secrets, 1))
        default = settings[f"{kind.upper()}_MODEL"]
        # Earlier in AICHAT_PROVIDER_ORDER: higher priority, so the order decides between the two.
        priority = len(order) - order.index(kind) if kind in order else 0
        specs.append(UpstreamSpec(kind, kind, settings[f"{kind.upper()}_BASE_URL"].rstrip("/"), keys,
                                  KIND_FAMILIES[kind], default, priority))
    return specs
