"""What the console says under a field the tenancy store refused, in the admin's language.

The store's checks say what is wrong in English for the CLI; the console shows its own translated sentence per
field, and for the refusals only the store can make (a domain taken, an origin another site lists) a sentence
chosen by what the store said. Anything else keeps the store's words, so no refusal is ever silent.
"""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

_WHOLE = _l("Enter a whole number of at least 1, or leave it empty for no limit.")
_AMOUNT = _l("Enter a positive amount such as 5 or 12.50, or leave it empty for no budget.")
_TEMPERATURE = _l("Enter a number from 0 to 2, or leave it empty.")
_ADDRESSES = _l("Each line must be an IP address or network, such as 203.0.113.7 or 10.0.0.0/8.")
_MODELS = _l("Each line must be a model name or a pattern such as gpt-4o*.")
_CHOICE = _l("Choose one of the options offered.")
_DURATION = _l("Enter a duration such as 30d, 12h, 90m or 2w, or leave it empty.")

FIELDS = {
    "domain": _l("Enter a host name such as shop.example.com (letters, digits, '-' and '.')."),
    "name": _l("Enter 1 to 128 printable characters."),
    "origins": _l("Each line must be an origin: http:// or https://, a host and maybe a port, without a path."),
    "ip_allow": _ADDRESSES, "ip_deny": _ADDRESSES, "allow_ips": _ADDRESSES, "deny_ips": _ADDRESSES,
    "allowed_models": _MODELS, "models": _MODELS,
    "temperature_min": _TEMPERATURE, "temperature_max": _TEMPERATURE,
    "max_tokens": _WHOLE, "max_input_chars": _WHOLE, "max_input_tokens": _WHOLE, "max_messages": _WHOLE,
    "rpm": _WHOLE, "rpm_ip": _WHOLE, "rpm_user": _WHOLE, "tpm": _WHOLE, "tpd": _WHOLE,
    "cost_day": _AMOUNT, "cost_month": _AMOUNT,
    "currency": _l("Enter a three-letter currency code such as USD."),
    "retention_days": _l("Enter whole days from 1 to 36500, or leave it empty to keep conversations."),
    "system_prompt": _l("At most 20,000 characters."),
    "client_system": _CHOICE, "on_disconnect": _CHOICE,
    "expires": _DURATION,
    "grace": _l("Enter a duration such as 24h, 30m or 2d, or 0 for none."),
    "secret_grace": _l("Enter a duration such as 24h, 30m or 2d (at most 30 days), or 0 for none."),
}
KEY_FIELDS = {**FIELDS, "name": _l("At most 64 printable characters.")}
# Refusals only the store can make, by what it said; %(other)s is the other site or key a refusal names.
_CONFLICTS = (
    (re.compile(r"already used by site '([^']*)'"), _l("Another site (%(other)s) lists this origin: an origin names "
                                                       "one site. Remove it there first.")),
    (re.compile(r"belongs to the local site through AICHAT_ALLOWED_ORIGINS"),
     _l("This origin belongs to the local site through AICHAT_ALLOWED_ORIGINS.")),
    (re.compile(r"^a site '[^']*' already exists"), _l("A site with this domain already exists.")),
    (re.compile(r"^the local site is found by its domain"),
     _l("The local site cannot be renamed, and no other site can take its domain.")),
    (re.compile(r"^temperature_min .* is above temperature_max"), _l("The lowest temperature is above the highest.")),
    (re.compile(r"^default_model .* is not among allowed_models"),
     _l("The default model is not among the allowed models.")),
    (re.compile(r"was already rotated, to (\S+)"), _l("This key was rotated already, to %(other)s: rotate that one.")),
    (re.compile(r"is revoked; create a new one"), _l("This key is revoked: issue a new one.")),
)


def explain(name: str, detail: str, key: bool = False) -> str:
    """The sentence shown under field `name` for the store's refusal `detail`."""
    for pattern, message in _CONFLICTS:
        found = pattern.search(detail)
        if found:
            text = str(message)  # translated, its placeholder left as it is
            return text % {"other": found.group(1)} if found.groups() else text
    message = (KEY_FIELDS if key else FIELDS).get(name)
    return str(message) if message is not None else detail
