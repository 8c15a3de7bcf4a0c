"""Provider registry: one module per upstream wire protocol, imported only when configured."""
from __future__ import annotations

from importlib import import_module

# kind -> "module:Class". Adding a provider is a module in this package plus one line here.
_REGISTRY: dict[str, str] = {}


def register(kind: str, target: str) -> None:
    _REGISTRY[kind] = target


def provider_class(kind: str):
    """The adapter class for `kind`; its SDK is imported only now, when it is used."""
    module_name, _, class_name = _REGISTRY[kind].partition(":")
    return getattr(import_module(module_name, __name__), class_name)


def kinds() -> list[str]:
    return list(_REGISTRY)


register("openai", ".openai:OpenAIProvider")
register("gemini", ".gemini:GeminiProvider")
register("demo", ".demo:DemoProvider")
