"""Sites and client keys as plain values: what a request is checked against, and the checks on every field.

A site (a tenant) names the pages that may call the browser endpoint (its origins), what its
assistant may do there (the preset) and how much it may use (its limits). A client key belongs to
one site and is held by a server. Both are read from the database into these frozen values, so a
request never queries for them; a change builds new values and swaps them in whole.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from aichat.gateway.specs import SpecError
from aichat.netrules import NetRule, NetRuleError, validate

CLIENT_SYSTEM_MODES = ("refuse", "replace", "allow")  # a browser's own system message: 400, dropped, or kept
LIMIT_NAMES = ("rpm", "rpm_ip", "rpm_user", "tpm", "tpd", "cost_day", "cost_month")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))*$")
_NAME_MAX = 128
SYSTEM_PROMPT_MAX = 20_000
ON_DISCONNECT_MODES = ("stop", "finish")  # a client gone mid-answer: close the upstream call, or finish and store it
RETENTION_DAYS_DEFAULT = 90
RETENTION_DAYS_MAX = 36_500


@dataclass(frozen=True, slots=True)
class Preset:
    """The assistant a site's browser traffic gets, enforced on the server whatever the page sends.

    None means "no rule of the site's own": the gateway's general limits still apply.
    """

    system_prompt: str | None = None
    client_system: str = "refuse"  # one of CLIENT_SYSTEM_MODES
    default_model: str | None = None
    allowed_models: tuple[str, ...] = ()  # names and glob patterns; empty: every model the gateway serves
    temperature_min: float | None = None
    temperature_max: float | None = None
    max_tokens: int | None = None  # a cap: more is refused, none asked gets the cap
    max_input_chars: int | None = None
    max_input_tokens: int | None = None  # estimated, as the gateway estimates prompts
    max_messages: int | None = None
    suggestions: bool = True

    def allows_model(self, model: str) -> bool:
        return not self.allowed_models or any(fnmatch.fnmatchcase(model, p) for p in self.allowed_models)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class Limits:
    """How much a site or a key may use; None is no limit. Costs are in `currency`."""

    rpm: int | None = None  # requests per minute, for the site (or the key) as a whole
    rpm_ip: int | None = None  # requests per minute from one client address
    rpm_user: int | None = None  # requests per minute from one end user (the widget's signed-in or anonymous user)
    tpm: int | None = None  # tokens per minute
    tpd: int | None = None  # tokens per day
    cost_day: Decimal | None = None
    cost_month: Decimal | None = None
    currency: str = "USD"

    @property
    def any(self) -> bool:
        return any(getattr(self, name) is not None for name in LIMIT_NAMES)

    def as_dict(self) -> dict[str, Any]:
        return {name: (str(v) if isinstance(v := getattr(self, name), Decimal) else v)
                for name in (*LIMIT_NAMES, "currency")}


@dataclass(frozen=True, slots=True)
class IdentitySecrets:
    """The secrets a site's end-user tokens are verified with, decrypted once per configuration load: the
    current one, and after a rotation the previous one until its grace period ends. Never in a repr."""

    current: str | None = field(default=None, repr=False)
    previous: str | None = field(default=None, repr=False)
    previous_until: datetime | None = None  # aware UTC

    def usable_at(self, now: datetime) -> tuple[str, ...]:
        """The secrets that verify a token now, the current one first."""
        found = (self.current,) if self.current else ()
        if self.previous and self.previous_until is not None and now < self.previous_until:
            found += (self.previous,)
        return found


@dataclass(frozen=True, slots=True)
class SiteSpec:
    """A site as requests see it."""

    id: int
    domain: str
    name: str
    publishable_key: str
    origins: frozenset[str]
    enabled: bool = True
    allow_anonymous: bool = True
    preset: Preset = field(default_factory=Preset)
    limits: Limits = field(default_factory=Limits)
    ip_rules: NetRule = field(default_factory=NetRule)  # which client addresses may call
    merge_anonymous: bool = True  # a browser's anonymous conversations may move to its user on sign-in
    on_disconnect: str = "stop"  # one of ON_DISCONNECT_MODES
    retention_days: int | None = RETENTION_DAYS_DEFAULT  # None: conversations are kept until deleted
    identity: IdentitySecrets = field(default_factory=IdentitySecrets)


@dataclass(frozen=True, slots=True)
class ClientKeySpec:
    """A client key as requests see it: the key itself is never held, only its SHA-256 digest."""

    id: int | None  # None for a key from AICHAT_API_KEYS
    site_id: int
    name: str
    prefix: str  # the visible start, e.g. aic_live_ab12cd34
    digest: bytes
    models: tuple[str, ...] = ()  # names and glob patterns; empty: what its site allows
    limits: Limits = field(default_factory=Limits)
    ip_rules: NetRule = field(default_factory=NetRule)  # which client addresses may call
    expires_at: datetime | None = None  # aware UTC; a rotated key's grace period ends here too
    revoked: bool = False

    @property
    def label(self) -> str:
        """How usage rows and logs name the caller: the visible prefix, never the key."""
        return self.prefix

    def usable_at(self, now: datetime) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)

    def allows_model(self, model: str) -> bool:
        return not self.models or any(fnmatch.fnmatchcase(model, p) for p in self.models)


# --- checks: each returns the clean value or raises SpecError with one line naming it ----------------


def check_domain(domain: str) -> str:
    clean = (domain or "").strip().lower().rstrip(".")
    if not _DOMAIN.match(clean):
        raise SpecError(f"site domain {domain!r} is not a host name (letters, digits, '-' and '.', e.g. example.com)")
    return clean


def check_site_name(name: str) -> str:
    clean = (name or "").strip()
    if not clean or len(clean) > _NAME_MAX or not clean.isprintable():
        raise SpecError(f"site name {name!r} must be 1-{_NAME_MAX} printable characters")
    return clean


def check_origin(origin: str) -> str:
    """An origin is scheme://host[:port] with http or https, nothing else; returned as browsers send it."""
    raw = (origin or "").strip().rstrip("/")
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if (parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.path
            or parts.query or parts.fragment or parts.username or parts.password):
        raise SpecError(f"origin {origin!r} is not an origin: scheme://host[:port] with http or https, no path")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")


def check_models(patterns: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    clean = tuple(dict.fromkeys(p.strip() for p in patterns if p.strip()))
    for pattern in clean:
        if len(pattern) > 128 or not pattern.isprintable() or pattern.strip("*?") == "":
            raise SpecError(f"model pattern {pattern!r} is not a model name or a pattern such as 'gpt-4o*'")
    return clean


def check_ip_list(entries, option: str) -> list[str]:
    """Addresses and CIDR networks (IPv4 or IPv6) in canonical form, for an allow or deny list."""
    try:
        return validate(entries, option)
    except NetRuleError as exc:
        raise SpecError(str(exc)) from None


def _positive_int(name: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be a whole number, not {value!r}") from None
    if number < 1 or number > 10**12:
        raise SpecError(f"{name} must be at least 1 (leave it out for no limit), not {value!r}")
    return number


def _money(name: str, value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise SpecError(f"{name} must be an amount such as 5 or 12.50, not {value!r}") from None
    if not amount.is_finite() or amount <= 0 or amount >= Decimal(10) ** 12:
        raise SpecError(f"{name} must be a positive amount (leave it out for no budget), not {value!r}")
    return amount


def _temperature(name: str, value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be a number between 0 and 2, not {value!r}") from None
    if not 0 <= number <= 2:
        raise SpecError(f"{name} must be between 0 and 2, not {value!r}")
    return number


def check_limits(values: dict[str, Any]) -> Limits:
    """Limits from a mapping of LIMIT_NAMES (and `currency`); unknown names are refused."""
    unknown = set(values) - {*LIMIT_NAMES, "currency"}
    if unknown:
        raise SpecError(f"unknown limit {sorted(unknown)[0]!r}; limits are {', '.join(LIMIT_NAMES)}")
    currency = str(values.get("currency") or "USD").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise SpecError(f"currency {values.get('currency')!r} is not a three-letter code such as USD")
    counts = {name: _positive_int(name, values.get(name)) for name in ("rpm", "rpm_ip", "rpm_user", "tpm", "tpd")}
    return Limits(**counts, cost_day=_money("cost_day", values.get("cost_day")),
                  cost_month=_money("cost_month", values.get("cost_month")), currency=currency)


def check_preset(values: dict[str, Any]) -> Preset:
    """A preset from a mapping of its field names; unknown names and values that cannot work are refused."""
    known = {f.name for f in fields(Preset)}
    unknown = set(values) - known
    if unknown:
        raise SpecError(f"unknown preset field {sorted(unknown)[0]!r}; fields are {', '.join(sorted(known))}")
    prompt = values.get("system_prompt")
    if prompt is not None:
        prompt = str(prompt)
        if len(prompt) > SYSTEM_PROMPT_MAX:
            raise SpecError(f"system_prompt is {len(prompt)} characters; at most {SYSTEM_PROMPT_MAX}")
        prompt = prompt or None
    mode = values.get("client_system", "refuse")
    if mode not in CLIENT_SYSTEM_MODES:
        raise SpecError(f"client_system must be one of {', '.join(CLIENT_SYSTEM_MODES)}, not {mode!r}")
    low, high = (_temperature("temperature_min", values.get("temperature_min")),
                 _temperature("temperature_max", values.get("temperature_max")))
    if low is not None and high is not None and low > high:
        raise SpecError(f"temperature_min ({low}) is above temperature_max ({high})")
    default_model = (values.get("default_model") or "").strip() or None
    allowed = check_models(values.get("allowed_models") or ())
    if default_model and allowed and not any(fnmatch.fnmatchcase(default_model, p) for p in allowed):
        raise SpecError(f"default_model {default_model!r} is not among allowed_models")
    suggestions = values.get("suggestions", True)
    if not isinstance(suggestions, bool):
        raise SpecError(f"suggestions must be true or false, not {suggestions!r}")
    return Preset(system_prompt=prompt, client_system=mode, default_model=default_model, allowed_models=allowed,
                  temperature_min=low, temperature_max=high,
                  max_tokens=_positive_int("max_tokens", values.get("max_tokens")),
                  max_input_chars=_positive_int("max_input_chars", values.get("max_input_chars")),
                  max_input_tokens=_positive_int("max_input_tokens", values.get("max_input_tokens")),
                  max_messages=_positive_int("max_messages", values.get("max_messages")),
                  suggestions=suggestions)


def check_on_disconnect(value: Any) -> str:
    if value not in ON_DISCONNECT_MODES:
        raise SpecError(f"on_disconnect must be one of {', '.join(ON_DISCONNECT_MODES)}, not {value!r}")
    return value


def check_retention_days(value: Any) -> int | None:
    """Whole days from 1 to RETENTION_DAYS_MAX, or None (keep conversations until they are deleted)."""
    if value is None:
        return None
    digits = isinstance(value, str) and value.isascii() and value.isdigit()
    whole = digits or isinstance(value, int) and not isinstance(value, bool)
    if not whole or not 1 <= int(value) <= RETENTION_DAYS_MAX:
        raise SpecError(f"retention_days must be a whole number of days from 1 to {RETENTION_DAYS_MAX}, or none, "
                        f"not {value!r}")
    return int(value)


def updated_preset(preset: Preset, changes: dict[str, Any]) -> Preset:
    """`preset` with `changes` applied and the whole checked again."""
    return check_preset({**preset.as_dict(), **changes})


def updated_limits(limits: Limits, changes: dict[str, Any]) -> Limits:
    return check_limits({**limits.as_dict(), **changes})


__all__ = ["CLIENT_SYSTEM_MODES", "ClientKeySpec", "IdentitySecrets", "LIMIT_NAMES", "Limits", "ON_DISCONNECT_MODES",
           "Preset", "SiteSpec", "SpecError", "check_domain", "check_ip_list", "check_limits", "check_models",
           "check_on_disconnect", "check_origin", "check_preset", "check_retention_days", "check_site_name",
           "updated_limits", "updated_preset"]
