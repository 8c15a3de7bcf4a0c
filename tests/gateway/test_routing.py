"""Model names to providers: patterns, explicit provider/model, aliases, defaults."""
import pytest

from aichat.gateway.routing import Route, Router, UnknownModel

ALIASES = {"gemini-2.5-flash-latest": "gemini-2.5-flash", "fast": "openai/gpt-4o-mini"}


def both(order=("gemini", "openai")):
    return Router({"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}, list(order), ALIASES, "")


@pytest.mark.parametrize("name, route", [
    ("gemini-2.5-pro", Route("gemini", "gemini-2.5-pro")),
    ("gpt-4.1", Route("openai", "gpt-4.1")),
    ("o3-mini", Route("openai", "o3-mini")),
    ("o4-mini", Route("openai", "o4-mini")),
    ("openai/deepseek-chat", Route("openai", "deepseek-chat")),
    ("gemini/gemini-2.0-flash", Route("gemini", "gemini-2.0-flash")),
    ("gemini-2.5-flash-latest", Route("gemini", "gemini-2.5-flash")),
    ("fast", Route("openai", "gpt-4o-mini")),
    (None, Route("gemini", "gemini-2.5-flash")),
])
def test_resolve(name, route):
    assert both().resolve(name) == route


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(UnknownModel) as info:
        both().resolve("llama-3-70b")
    assert "gemini-2.5-flash" in str(info.value) and "gpt-4o-mini" in str(info.value)


def test_a_default_model_of_a_compatible_endpoint_is_known():
    router = Router({"openai": "deepseek-chat"}, ["openai"], {}, "")
    assert router.resolve("deepseek-chat") == Route("openai", "deepseek-chat")


def test_plan_fails_over_to_the_other_providers_default_model():
    assert both().plan(Route("gemini", "gemini-2.5-pro")) == [
        Route("gemini", "gemini-2.5-pro"), Route("openai", "gpt-4o-mini")]


def test_order_follows_the_configuration():
    router = both(order=("openai", "gemini"))
    assert router.resolve(None) == Route("openai", "gpt-4o-mini")


def test_a_model_of_an_unconfigured_provider_goes_to_the_first_configured_one():
    router = Router({"openai": "gpt-4o-mini"}, ["gemini", "openai"], ALIASES, "")
    assert router.resolve("gemini-2.5-flash-latest") == Route("openai", "gpt-4o-mini")


def test_keyless_install_routes_real_model_names_to_the_demo():
    router = Router({"demo": "demo"}, ["gemini", "openai"], ALIASES, "")
    assert router.resolve("gemini-2.5-flash-latest") == Route("demo", "demo")
    with pytest.raises(UnknownModel):
        router.resolve("no-such-model")
