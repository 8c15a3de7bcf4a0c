"""A site's assistant preset applied to a browser's request (a client key's models are checked in api/context.py).

A plain function over a validated ChatRequest: it returns the request as it goes upstream, or raises a
PresetViolation naming the rule it breaks and the limit. The page never decides what the site's assistant is:
the site's system prompt goes first, its caps fill in what the page left out.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from aichat.gateway.tokens import estimate_usage
from aichat.providers.base import ChatRequest, Message

from .specs import Preset

PROVIDER_TEMPERATURE = 1.0  # what OpenAI and Gemini use when a request sends none


class PresetViolation(Exception):
    """A browser's request outside its site's preset; `rule` names the preset field, `param` the request's."""

    def __init__(self, rule: str, message: str, param: str):
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.param = param


def apply_preset(req: ChatRequest, preset: Preset, ceiling: int | None = None,
                 names: Callable[[str], Iterable[str]] = lambda model: (model,)) -> ChatRequest:
    """The request as the site's preset shapes it; PresetViolation when it asks for more than the preset allows.
    `ceiling` is the gateway's own max_tokens limit: a cap above it fills in no more than it. `names` gives
    the names a requested model also goes by (an alias's model): allowed when any of them is."""
    messages = req.messages
    if preset.max_messages is not None and len(messages) > preset.max_messages:
        raise PresetViolation("max_messages", f"max_messages: this site accepts at most {preset.max_messages} "
                                              f"messages in a request ({len(messages)} sent)", "messages")
    if any(m.role == "system" for m in messages):
        if preset.client_system == "refuse":
            raise PresetViolation("client_system", "client_system: this site sets its assistant's instructions "
                                                   "itself; send no 'system' message", "messages")
        if preset.client_system == "replace":
            messages = [m for m in messages if m.role != "system"]
    _check_input(messages, preset)
    model = _model(req.model or preset.default_model, preset, names)
    if preset.system_prompt:
        messages = [Message("system", preset.system_prompt), *messages]
    temperature = _temperature(req.temperature, preset)
    max_tokens = _max_tokens(req.max_tokens, preset.max_tokens, ceiling)
    if (messages, model, temperature, max_tokens) == (req.messages, req.model, req.temperature, req.max_tokens):
        return req
    # Built directly: dataclasses.replace costs several times more, on every browser request.
    return ChatRequest(messages=messages, model=model, temperature=temperature, max_tokens=max_tokens,
                       stream=req.stream, extra=req.extra)


def _check_input(messages: list[Message], preset: Preset) -> None:
    """The page's messages against the input caps (the site's own system prompt is not counted)."""
    if preset.max_input_chars is None and preset.max_input_tokens is None:
        return
    chars = sum(len(m.content) for m in messages)
    if preset.max_input_chars is not None:
        if chars > preset.max_input_chars:
            raise PresetViolation("max_input_chars", f"max_input_chars: the messages are {chars} characters; this "
                                                     f"site accepts at most {preset.max_input_chars}", "messages")
    # The rule counts at most a token per character plus 4 per message: below that, no need to count.
    if preset.max_input_tokens is not None and chars + 4 * len(messages) > preset.max_input_tokens:
        tokens = estimate_usage(messages, "").prompt_tokens  # the rule the gateway estimates prompts by
        if tokens > preset.max_input_tokens:
            raise PresetViolation("max_input_tokens", f"max_input_tokens: the messages are about {tokens} tokens; "
                                                      f"this site accepts at most {preset.max_input_tokens}",
                                  "messages")


def _model(model: str | None, preset: Preset, names: Callable[[str], Iterable[str]]) -> str | None:
    """The model to ask for: the one named (or the default), else the first plain name among the allowed models
    (the gateway's default could be outside them); refused when outside them."""
    patterns = preset.allowed_models
    if model is None and patterns:
        model = next((p for p in patterns if not any(c in p for c in "*?[")), None)
        if model is None:
            raise PresetViolation("allowed_models", f"allowed_models: name a model: this site allows "
                                                    f"{', '.join(patterns)}", "model")
    if model is not None and not any(preset.allows_model(name) for name in names(model)):
        raise PresetViolation("allowed_models", f"allowed_models: model {model!r} is not available on this site "
                                                f"(allowed: {', '.join(patterns)})", "model")
    return model


def _temperature(asked: float | None, preset: Preset) -> float | None:
    low = preset.temperature_min if preset.temperature_min is not None else 0.0
    high = preset.temperature_max if preset.temperature_max is not None else 2.0
    if asked is None:
        # The providers' default where the range holds it; otherwise the range's end nearest to it.
        return None if low <= PROVIDER_TEMPERATURE <= high else min(max(PROVIDER_TEMPERATURE, low), high)
    if not low <= asked <= high:
        raise PresetViolation("temperature", f"temperature: this site accepts {low:g} to {high:g} "
                                             f"({asked:g} asked)", "temperature")
    return asked


def _max_tokens(asked: int | None, cap: int | None, ceiling: int | None) -> int | None:
    if cap is None:
        return asked
    if asked is None:
        return cap if ceiling is None else min(cap, ceiling)
    if asked > cap:
        raise PresetViolation("max_tokens", f"max_tokens: this site allows at most {cap} ({asked} asked)",
                              "max_tokens")
    return asked
