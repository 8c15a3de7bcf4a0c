"""The upstreams page's forms: each field read from the posted form and checked, with a translated error per field.

The checks are the gateway's own (aichat/gateway/specs.py), so the console accepts exactly what the CLI does;
only the words differ, said next to the field in the admin's language.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping

from flask_babel import lazy_gettext as _l

from aichat.gateway import specs
from aichat.gateway.specs import SpecError
from aichat.upstreams import aliases

MESSAGES = {
    "name": _l("Use 1 to 32 lower-case letters, digits, '.', '-' or '_', starting with a letter or digit."),
    "name_reserved": _l("The environment defines an upstream of this name: pick another."),
    "name_taken": _l("An upstream of this name exists already."),
    "kind": _l("Choose one of the kinds offered."),
    "base_url": _l("Enter an http:// or https:// URL with a host and no user name or password."),
    "models": _l("Name at least one model or pattern, separated by commas; patterns use only * and ?."),
    "default_model": _l("Name one model: no spaces, no * or ?."),
    "default_model_needed": _l("Every model given is a pattern: name the model to use when a request names none."),
    "priority": _l("Enter a whole number from -1000 to 1000."),
    "label": _l("Use 1 to 48 letters, digits and '.', '_', '-', '#', '@' or '+'."),
    "label_taken": _l("This upstream has a key with this label already."),
    "secret": _l("Paste the key: not empty, no spaces."),
    "secret_twice": _l("This upstream has this key already, under another label."),
    "alias": _l("1 to 128 characters, no spaces and no * or ?."),
    "alias_environment": _l("The environment sets this alias (AICHAT_MODEL_ALIASES): change it there."),
    "target": _l("A model name or upstream/model, no spaces and no * or ?, other than the alias."),
}


def _text(form: Mapping, name: str, limit: int = 512) -> str:
    return (form.get(name) or "").strip()[:limit]


def _check(errors: dict, field: str, message: str, check, *args):
    try:
        return check(*args)
    except SpecError:
        errors[field] = MESSAGES[message]
        return None


def upstream(form: Mapping, kinds: list[str], reserved: Collection[str], taken: Collection[str],
             adding: bool) -> tuple[dict, dict]:
    """(values, errors) of the add or edit form; values keep what was typed, to show it again."""
    errors: dict = {}
    typed = {name: _text(form, name) for name in ("name", "kind", "base_url", "models", "default_model", "priority")}
    typed["priority"] = typed["priority"] or "0"
    typed["disabled"] = bool(form.get("disabled"))
    values = dict(typed, enabled=not typed["disabled"])
    if adding:
        if _check(errors, "name", "name", specs.check_name, typed["name"]) is not None:
            if typed["name"] in reserved:
                errors["name"] = MESSAGES["name_reserved"]
            elif typed["name"] in taken:
                errors["name"] = MESSAGES["name_taken"]
        _check(errors, "kind", "kind", specs.check_kind, typed["kind"], kinds)
    _check(errors, "base_url", "base_url", specs.check_base_url, typed["base_url"])
    patterns = _check(errors, "models", "models", specs.check_models, typed["models"].split(","))
    if patterns is not None:
        values["models"] = list(patterns)
        chosen = typed["default_model"]
        if "*" in chosen or "?" in chosen:
            errors["default_model"] = MESSAGES["default_model"]
        else:
            values["default_model"] = _check(errors, "default_model", "default_model" if chosen else
                                             "default_model_needed", specs.check_default_model, chosen or None,
                                             patterns)
    _check(errors, "priority", "priority", specs.check_priority, typed["priority"])
    return (values if not errors else typed), errors


def key(form: Mapping, labels: Collection[str]) -> tuple[dict, dict]:
    """(values, errors) of the add-key form; the secret is never put back into the form."""
    errors: dict = {}
    label = _text(form, "label", 64)
    secret = (form.get("secret") or "").strip()
    if _check(errors, "label", "label", specs.check_label, label) is not None and label in labels:
        errors["label"] = MESSAGES["label_taken"]
    _check(errors, "secret", "secret", specs.check_secret, secret)
    return {"label": label, "secret": secret}, errors


def alias(form: Mapping, settings: Mapping) -> tuple[dict, dict]:
    errors: dict = {}
    name, target = _text(form, "alias", 200), _text(form, "target", 200)
    try:
        aliases.check_name(name, settings)
    except SpecError:
        errors["alias"] = MESSAGES["alias_environment" if name in settings["AICHAT_MODEL_ALIASES"] else "alias"]
    _check(errors, "target", "target", aliases.check_target, target, name)
    return {"alias": name, "target": target}, errors
