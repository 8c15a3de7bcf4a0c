"""The console's site and client key forms: posted fields to the tenancy store's arguments, each error on its field.

Plain Python over a mapping of form fields (no request). Each field is checked alone by the store's own checks,
so every wrong field is named at once; what only the store can tell (a domain taken, an origin another site
lists) comes back as a SpecError that `field_of` puts next to the field it names.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aichat.tenancy import keys
from aichat.tenancy.identity_secret import parse_grace
from aichat.tenancy.specs import (LIMIT_NAMES, SpecError, check_domain, check_ip_list, check_limits, check_models,
                                  check_on_disconnect, check_origin, check_preset, check_retention_days,
                                  check_site_name)

from .form_messages import explain

PRESET_TEXT = ("system_prompt", "client_system", "default_model", "temperature_min", "temperature_max",
               "max_tokens", "max_input_chars", "max_input_tokens", "max_messages")
KEY_LIMITS = ("rpm", "tpm", "tpd", "cost_day", "cost_month")
# Messages of the store that do not begin with their field's name, by how they begin.
_PREFIXES = (("site domain", "domain"), ("a site ", "domain"), ("the local site", "domain"), ("site name", "name"),
             ("origin", "origins"), ("model pattern", "allowed_models"), ("key name", "name"),
             ("ip_allow", "ip_allow"), ("ip_deny", "ip_deny"), ("allow_ips", "allow_ips"), ("deny_ips", "deny_ips"))


@dataclass
class Parsed:
    """What a form asked for, as the store takes it, and an error message per field that was wrong."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    key: bool = False  # a client key's form (its fields read a little differently)

    def check(self, name: str, checker, *args) -> Any:
        """checker(*args), or None with the error kept under `name`."""
        try:
            return checker(*args)
        except SpecError as exc:
            self.errors.setdefault(name, explain(name, str(exc), self.key))
            return None

    def refused(self, exc: SpecError, fields) -> None:
        """The store's refusal of the whole change, kept under the field it is about."""
        name = field_of(str(exc), fields)
        self.errors[name] = explain(name, str(exc), self.key)


def field_of(message: str, fields: tuple[str, ...] | list[str]) -> str:
    """The form field a store's message is about ('form' when none is named)."""
    for prefix, name in _PREFIXES:
        if message.startswith(prefix) and name in fields:
            return name
    for name in sorted(fields, key=len, reverse=True):
        if re.search(rf"(^|\W){re.escape(name)}(\W|$)", message):
            return name
    return "form"


def entries(text: str | None) -> list[str]:
    """A list typed one per line (commas separate too)."""
    return [part.strip() for part in re.split(r"[\n,]", text or "") if part.strip()]


def _blank_none(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


# --- sites -------------------------------------------------------------------------------------


SITE_FIELDS = ("domain", "name", "origins", "ip_allow", "ip_deny", "allowed_models", "suggestions",
               "allow_anonymous", "merge_anonymous", "on_disconnect", "retention_days", "currency",
               *PRESET_TEXT, *LIMIT_NAMES)


def site_form(form: Mapping[str, str]) -> Parsed:
    """Every setting the site form holds, checked field by field, then the preset and limits as a whole."""
    out = Parsed()
    domain = out.check("domain", check_domain, form.get("domain", ""))
    name = (form.get("name") or "").strip() or domain or ""
    out.values.update(domain=domain, name=out.check("name", check_site_name, name),
                      allow_anonymous=form.get("allow_anonymous") == "on")
    out.values["origins"] = [out.check("origins", check_origin, origin) for origin in entries(form.get("origins"))]
    for column in ("ip_allow", "ip_deny"):
        out.values[column] = out.check(column, check_ip_list, entries(form.get(column)), column)
    out.values["preset"] = _preset(form, out)
    out.values["limits"] = _limits(form, out, LIMIT_NAMES)
    out.values["conversations"] = {
        "merge_anonymous": form.get("merge_anonymous") == "on",
        "on_disconnect": out.check("on_disconnect", check_on_disconnect, form.get("on_disconnect", "stop")),
        "retention_days": out.check("retention_days", check_retention_days,
                                    _blank_none(form.get("retention_days")))}
    out.values["rotate_publishable_key"] = form.get("rotate_publishable_key") == "on"
    return out


def _preset(form: Mapping[str, str], out: Parsed) -> dict[str, Any]:
    preset: dict[str, Any] = {name: _blank_none(form.get(name)) for name in PRESET_TEXT}
    preset["system_prompt"] = (form.get("system_prompt") or "").replace("\r\n", "\n").strip() or None
    preset["client_system"] = preset["client_system"] or "refuse"
    preset["allowed_models"] = list(out.check("allowed_models", check_models, entries(form.get("allowed_models")))
                                    or ())
    preset["suggestions"] = form.get("suggestions") == "on"
    for name, value in preset.items():
        out.check(name, check_preset, {name: value})
    if not out.errors.keys() & set(preset):
        try:
            check_preset(preset)
        except SpecError as exc:  # a rule between fields: temperatures, the default model among the allowed
            out.refused(exc, list(preset))
    return preset


def _limits(form: Mapping[str, str], out: Parsed, names: tuple[str, ...]) -> dict[str, Any]:
    limits: dict[str, Any] = {name: _blank_none(form.get(name)) for name in names}
    limits["currency"] = _blank_none(form.get("currency")) or "USD"
    for name, value in limits.items():
        out.check(name, check_limits, {name: value})
    return limits


def create_arguments(parsed: Parsed) -> dict[str, Any]:
    """The keyword arguments of sites.create_site (after the domain and origins)."""
    values = parsed.values
    return {"name": values["name"], "allow_anonymous": values["allow_anonymous"], "preset": values["preset"],
            "limits": values["limits"], "ip_lists": {"ip_allow": values["ip_allow"], "ip_deny": values["ip_deny"]}}


def update_arguments(parsed: Parsed, current: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of sites.update_site that take the site from `current` to what the form holds."""
    values = parsed.values
    origins, had = set(values["origins"]), set(current["origins"])
    return {"new_domain": values["domain"] if values["domain"] != current["domain"] else None,
            "name": values["name"], "add_origins": sorted(origins - had), "remove_origins": sorted(had - origins),
            "allow_anonymous": values["allow_anonymous"], "preset": values["preset"], "limits": values["limits"],
            "rotate_publishable_key": values["rotate_publishable_key"],
            "ip_lists": {"ip_allow": values["ip_allow"], "ip_deny": values["ip_deny"]},
            "conversations": values["conversations"]}


# --- client keys -------------------------------------------------------------------------------


KEY_FIELDS = ("name", "models", "expires", "allow_ips", "deny_ips", *KEY_LIMITS)


def key_form(form: Mapping[str, str]) -> Parsed:
    """A new client key's name, models, limits, lifetime and address lists."""
    out = Parsed(key=True)
    out.values["name"] = out.check("name", keys.check_key_name, form.get("name", ""))
    out.values["models"] = list(out.check("models", check_models, entries(form.get("models"))) or ())
    out.values["limits"] = _limits(form, out, KEY_LIMITS)
    out.values["limits"].pop("currency")  # a key's budgets are in USD, as the CLI's
    expires = _blank_none(form.get("expires"))
    out.values["expires_in"] = out.check("expires", keys.check_duration, expires, "expires") if expires else None
    for name in ("allow_ips", "deny_ips"):
        out.values[name] = out.check(name, check_ip_list, entries(form.get(name)), name)
    return out


def rotate_form(form: Mapping[str, str]) -> Parsed:
    """A rotation's grace period for the old key (0: none) and the new key's lifetime (blank: as the old one's)."""
    out = Parsed(key=True)
    out.values["grace"] = out.check("grace", keys.check_duration, (form.get("grace") or "24h").strip(), "grace",
                                    True)
    expires = _blank_none(form.get("expires"))
    out.values["expires_in"] = out.check("expires", keys.check_duration, expires, "expires") if expires else None
    return out


def secret_form(form: Mapping[str, str]) -> Parsed:
    """How long a rotated identity secret keeps verifying tokens."""
    out = Parsed()
    out.values["grace"] = out.check("secret_grace", parse_grace, (form.get("secret_grace") or "24h").strip())
    return out


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "on" if value else ""
    if isinstance(value, (list, tuple)):
        return "\n".join(str(v) for v in value)
    return str(value)


def form_values(site: dict[str, Any] | None) -> dict[str, str]:
    """The form's fields filled from a site (`site_dict`), or a new site's defaults."""
    if site is None:
        site = {"domain": "", "name": "", "origins": [], "allow_anonymous": True, "ip_allow": [], "ip_deny": [],
                "preset": {"client_system": "refuse", "suggestions": True}, "limits": {"currency": "USD"},
                "merge_anonymous": True, "on_disconnect": "stop", "retention_days": 90}
    values = {name: _text(site.get(name)) for name in ("domain", "name", "origins", "allow_anonymous", "ip_allow",
                                                         "ip_deny", "merge_anonymous", "on_disconnect",
                                                         "retention_days")}
    values.update({name: _text(value) for name, value in site["preset"].items()})
    values.update({name: _text(value) for name, value in site["limits"].items()})
    return values
