"""Model names to upstreams: explicit `upstream/model`, aliases, the models each upstream serves, defaults.

A model served by several upstreams is tried on them in priority order; after those comes the
fallback chain (AICHAT_PROVIDER_ORDER, then the remaining upstreams by priority), each upstream
with its own default model.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from .specs import KIND_FAMILIES, UpstreamSpec


class UnknownModel(Exception):
    def __init__(self, model: str, known: list[str]):
        super().__init__(f"unknown model {model!r}; known models: {', '.join(known)}")
        self.model = model
        self.known = known


@dataclass(frozen=True, slots=True)
class Route:
    """One step of a plan: the upstream to try and the model to ask it for."""

    upstream: str
    model: str


def _family_of(name: str) -> str | None:
    """The kind whose vendor catalogue a model name belongs to (gpt-… → openai), if any."""
    for kind, patterns in KIND_FAMILIES.items():
        if any(fnmatchcase(name, pattern) for pattern in patterns):
            return kind
    return None


class Router:
    """Resolves a requested model to its failover plan over the configured upstreams."""

    def __init__(self, specs: Sequence[UpstreamSpec], order: list[str], aliases: dict[str, str], default_model: str):
        by_name = {spec.name: spec for spec in specs}
        # The fallback chain: the configured order first, then the rest by priority (higher first), then name.
        rest = sorted((s for s in specs if s.name not in order), key=lambda s: (-s.priority, s.name))
        self.order = [name for name in order if name in by_name] + [s.name for s in rest]
        self.specs = [by_name[name] for name in self.order]
        self.aliases = aliases
        self.default_model = default_model or self.specs[0].default_model
        self.demo = [s.kind for s in specs] == ["demo"]
        self._rank = {name: i for i, name in enumerate(self.order)}
        self._cache: dict[str | None, tuple[Route, ...]] = {}

    def resolve(self, requested: str | None) -> Route:
        """The first step of the plan for a requested model name; UnknownModel lists what is known."""
        return self.plan_for(requested)[0]

    def plan_for(self, requested: str | None) -> tuple[Route, ...]:
        """Every step for `requested`, in order: the upstreams serving it, then the fallback chain."""
        plan = self._cache.get(requested)
        if plan is None:
            plan = self._plan(requested)
            if len(self._cache) < 4096:
                self._cache[requested] = plan
        return plan

    def _plan(self, requested: str | None) -> tuple[Route, ...]:
        name = requested or self.default_model
        name = self.aliases.get(name, name)
        first = self._serving(name)
        if not first:
            raise UnknownModel(requested or name, self.known_models())
        tried = {route.upstream for route in first}
        return tuple(first) + tuple(Route(s.name, s.default_model) for s in self.specs if s.name not in tried)

    def _serving(self, name: str) -> list[Route]:
        """The routes that serve `name` itself, best first; or the first upstream for a real model served nowhere."""
        upstream, sep, model = name.partition("/")
        if sep and model:
            if any(s.name == upstream for s in self.specs):
                return [Route(upstream, model)]
            if upstream in KIND_FAMILIES:  # e.g. gemini/… with no Gemini upstream configured
                return [self._first_default()]
        serving = sorted((s for s in self.specs if s.serves(name)), key=lambda s: (-s.priority, self._rank[s.name]))
        if serving:
            return [Route(s.name, name) for s in serving]
        if _family_of(name) is not None:
            # A real model of a vendor that no upstream here serves: the demo answers in a keyless
            # install; otherwise the plan starts at the first upstream with its default model.
            return [self._first_default()]
        return []

    def _first_default(self) -> Route:
        first = self.specs[0]
        return Route(first.name, first.default_model)

    def known_models(self) -> list[str]:
        """Model names a caller can send: defaults, names without wildcards, and aliases of served models."""
        names = [s.default_model for s in self.specs]
        names += [m for s in self.specs for m in s.models if "*" not in m and "?" not in m]
        names += [alias for alias, target in self.aliases.items() if self._serves_any(target)]
        return sorted(dict.fromkeys(names))

    def _serves_any(self, name: str) -> bool:
        upstream, sep, model = name.partition("/")
        if sep and model and any(s.name == upstream for s in self.specs):
            return True
        return any(s.serves(name) for s in self.specs)
