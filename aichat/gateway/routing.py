"""Model names to upstreams: explicit `provider/model`, aliases, name patterns, defaults."""
from __future__ import annotations

from dataclasses import dataclass

# Name patterns that belong to a provider's own catalogue.
_PATTERNS = {
    "gemini": ("gemini-", "gemma-"),
    "openai": ("gpt-", "chatgpt-", "o1", "o3", "o4"),
}


class UnknownModel(Exception):
    def __init__(self, model: str, known: list[str]):
        super().__init__(f"unknown model {model!r}; known models: {', '.join(known)}")
        self.model = model
        self.known = known


@dataclass(frozen=True, slots=True)
class Route:
    provider: str
    model: str


class Router:
    """Resolves a requested model to a route, and a route to the failover plan."""

    def __init__(self, defaults: dict[str, str], order: list[str], aliases: dict[str, str], default_model: str):
        self.defaults = defaults  # configured provider -> its default model
        self.order = [p for p in order if p in defaults] + [p for p in defaults if p not in order]
        self.aliases = aliases
        self.default_model = default_model or defaults[self.order[0]]
        self.demo = list(defaults) == ["demo"]
        self._cache: dict[str | None, Route] = {}

    def resolve(self, requested: str | None) -> Route:
        """The route for a requested model name; UnknownModel lists what is known."""
        route = self._cache.get(requested)
        if route is None:
            route = self._resolve(requested)
            if len(self._cache) < 4096:
                self._cache[requested] = route
        return route

    def _resolve(self, requested: str | None) -> Route:
        name = requested or self.default_model
        name = self.aliases.get(name, name)
        provider, model = self._owner(name)
        if provider is None:
            raise UnknownModel(requested or name, self.known_models())
        if provider not in self.defaults:
            # A real model of a provider that is not configured here: the demo answers in a
            # keyless install; otherwise the plan starts at the first configured provider.
            first = self.order[0]
            return Route(first, self.defaults[first])
        return Route(provider, model)

    def _owner(self, name: str) -> tuple[str | None, str]:
        provider, sep, model = name.partition("/")
        if sep and provider in _PATTERNS | self.defaults and model:
            return provider, model
        for configured, default in self.defaults.items():
            if name == default:
                return configured, name
        for provider, prefixes in _PATTERNS.items():
            if name.startswith(prefixes):
                return provider, name
        return None, name

    def plan(self, route: Route) -> list[Route]:
        """The route first, then every other provider in failover order with its default model."""
        return [route] + [Route(p, self.defaults[p]) for p in self.order if p != route.provider]

    def known_models(self) -> list[str]:
        names = [self.defaults[p] for p in self.order]
        names += [alias for alias in self.aliases if self._owner(self.aliases[alias])[0] in self.defaults]
        return sorted(dict.fromkeys(names))
