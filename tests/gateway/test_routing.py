"""Model names to upstreams: patterns, explicit upstream/model, aliases, defaults, priorities."""
import pytest

from aichat.gateway.routing import Route, Router, UnknownModel
from aichat.gateway.specs import KIND_FAMILIES, KeySpec, UpstreamSpec

ALIASES = {"gemini-2.5-flash-latest": "gemini-2.5-flash", "fast": "openai/gpt-4o-mini"}


def spec(name, default, kind=None, models=None, priority=0):
    kind = kind or name
    models = KIND_FAMILIES.get(kind, ()) if models is None else tuple(models)
    return UpstreamSpec(name, kind, "http://127.0.0.1:9", (KeySpec(f"{name}#1", "k"),), models, default, priority)


def router_of(defaults: dict, order, aliases=ALIASES):
    """The environment's upstreams: one per kind, named after it, serving its vendor's catalogue."""
    return Router([spec(name, default) for name, default in defaults.items()], list(order), aliases, "")


def both(order=("gemini", "openai")):
    return router_of({"openai": "gpt-4o-mini", "gemini": "gemini-2.5-flash"}, order)


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
    router = router_of({"openai": "deepseek-chat"}, ["openai"], {})
    assert router.resolve("deepseek-chat") == Route("openai", "deepseek-chat")


def test_plan_fails_over_to_the_other_providers_default_model():
    assert both().plan_for("gemini-2.5-pro") == (Route("gemini", "gemini-2.5-pro"), Route("openai", "gpt-4o-mini"))


def test_order_follows_the_configuration():
    router = both(order=("openai", "gemini"))
    assert router.resolve(None) == Route("openai", "gpt-4o-mini")


def test_a_model_of_an_unconfigured_provider_goes_to_the_first_configured_one():
    router = router_of({"openai": "gpt-4o-mini"}, ["gemini", "openai"])
    assert router.resolve("gemini-2.5-flash-latest") == Route("openai", "gpt-4o-mini")


def test_keyless_install_routes_real_model_names_to_the_demo():
    router = Router([spec("demo", "demo", models=())], ["gemini", "openai"], ALIASES, "")
    assert router.resolve("gemini-2.5-flash-latest") == Route("demo", "demo")
    with pytest.raises(UnknownModel):
        router.resolve("no-such-model")


def several():
    """Two OpenAI-compatible upstreams serving deepseek models, at different priorities, and Gemini."""
    return Router([spec("gemini", "gemini-2.5-flash"),
                   spec("deepseek", "deepseek-chat", kind="openai", models=["deepseek-*"], priority=5),
                   spec("deepseek-backup", "deepseek-chat", kind="openai", models=["deepseek-*"], priority=1),
                   spec("qwen", "qwen-plus", kind="openai", models=["qwen-*", "qwq-32b"])],
                  ["gemini"], ALIASES, "")


def test_a_model_served_by_several_upstreams_is_tried_on_them_by_priority_then_the_fallback_chain():
    assert several().plan_for("deepseek-reasoner") == (
        Route("deepseek", "deepseek-reasoner"), Route("deepseek-backup", "deepseek-reasoner"),
        Route("gemini", "gemini-2.5-flash"), Route("qwen", "qwen-plus"))


def test_equal_priorities_keep_the_configured_order():
    router = Router([spec("a", "m-1", kind="openai", models=["m-*"]), spec("b", "m-1", kind="openai", models=["m-*"])],
                    ["b", "a"], {}, "")
    assert [route.upstream for route in router.plan_for("m-2")] == ["b", "a"]


def test_an_explicit_upstream_name_wins_over_patterns():
    assert several().resolve("deepseek-backup/deepseek-chat") == Route("deepseek-backup", "deepseek-chat")
    assert several().resolve("qwen/anything-it-serves") == Route("qwen", "anything-it-serves")


def test_patterns_and_exact_names_route_and_nothing_else_does():
    router = several()
    assert router.resolve("qwq-32b") == Route("qwen", "qwq-32b")
    assert router.resolve("qwen-max") == Route("qwen", "qwen-max")
    with pytest.raises(UnknownModel):
        router.resolve("qwq-72b")


def test_the_model_list_names_what_can_be_sent_without_wildcards():
    assert several().known_models() == ["deepseek-chat", "gemini-2.5-flash", "gemini-2.5-flash-latest",
                                        "qwen-plus", "qwq-32b"]
