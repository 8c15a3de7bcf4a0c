"""Provider registry: one module per upstream wire protocol, imported only when configured."""
from __future__ import annotations

from importlib import import_module

# kind -> "module:Class". Adding a provider is a module in this package plus one line here.
_REGISTRY: dict[str, str] = {}
# kind -> the model patterns of its vendor's own catalogue: what an upstream of that kind defined in the
# environment serves, and how a real model name is told from a typo when no upstream serves it.
_FAMILIES: dict[str, tuple[str, ...]] = {}


def register(kind: str, target: str, models: tuple[str, ...] = ()) -> None:
    _REGISTRY[kind] = target
    _FAMILIES[kind] = models


def families() -> dict[str, tuple[str, ...]]:
    """Each kind's vendor model patterns (kinds without a catalogue of their own are left out)."""
    return {kind: models for kind, models in _FAMILIES.items() if models}


def provider_class(kind: str):
    """The adapter class for `kind`; its SDK is imported only now, when it is used."""
    module_name, _, class_name = _REGISTRY[kind].partition(":")
    return getattr(import_module(module_name, __name__), class_name)


def kinds() -> list[str]:
    return list(_REGISTRY)


register("openai", ".openai:OpenAIProvider", ("gpt-*", "chatgpt-*", "o1*", "o3*", "o4*"))
register("gemini", ".gemini:GeminiProvider", ("gemini-*", "gemma-*"))
register("demo", ".demo:DemoProvider")
