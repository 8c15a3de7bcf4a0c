"""Languages and formats for pages: Simplified Chinese and English, numbers, money and times for the locale.

The language is the one chosen in the header (remembered in a cookie), else the best match of the
browser's Accept-Language; times are shown in AICHAT_TIMEZONE, where usage days are cut. Templates use
`_()` and the filters registered here, never str() of a number.
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation

from babel import numbers
from flask import Blueprint, Flask, current_app, redirect, request, url_for
from flask_babel import Babel, format_date, format_datetime, format_decimal, format_percent, get_locale

# Locale code → its name in itself, as the switch shows it.
LANGUAGES = {"en": "English", "zh_CN": "简体中文"}
COOKIE = "aichat_lang"
COOKIE_AGE = 365 * 24 * 3600
MISSING = "—"

babel = Babel()
bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The chosen language, else the browser's best match (any Chinese reads the Simplified catalog), else English."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    for tag, _quality in request.accept_languages:
        primary = tag.replace("_", "-").split("-")[0].lower()
        if primary == "zh":
            return "zh_CN"
        if primary == "en":
            return "en"
    return "en"


def select_timezone() -> str:
    return str(current_app.config.get("AICHAT_TIMEZONE") or "UTC").strip()


def current_language() -> str:
    """The language being shown, as the switch names it (Babel reads zh_CN as zh_Hans_CN)."""
    locale = get_locale()
    return "zh_CN" if locale is not None and locale.language == "zh" else "en"


def init_i18n(app: Flask) -> None:
    """Flask-Babel with our selectors, the format filters, and the language switch."""
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    app.jinja_env.filters.update(number=number, money=money, money_short=money_short, percent=percent, datetime=when, date=day, ms=duration)
    app.jinja_env.globals.update(languages=LANGUAGES, current_language=current_language)
    app.register_blueprint(bp)


@bp.get("/language/<code>")
def switch(code: str):
    """Remember a language and go back where the switch was clicked (only to a path on this site)."""
    from aichat.admin.redirects import safe_next

    response = redirect(safe_next(request.args.get("next")) or url_for("admin.index"))
    if code in LANGUAGES:
        response.set_cookie(COOKIE, code, max_age=COOKIE_AGE, samesite="Lax", httponly=True,
                            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
    return response


def number(value, digits: int | None = None) -> str:
    """A count or amount with the locale's grouping: 12,345 / 12,345.6."""
    if value is None:
        return MISSING
    if digits is not None:
        return format_decimal(value, format=f"#,##0.{'0' * digits}" if digits else "#,##0")
    return format_decimal(value)


def _decimal(amount) -> Decimal | str:
    """An amount as a Decimal, or what to show instead (nothing known; text that is no number, as it is)."""
    if amount is None or amount == "":
        return MISSING
    try:
        return Decimal(str(amount))
    except InvalidOperation:
        return str(amount)


def money(amount, currency: str | None) -> str:
    """An exact amount in its currency, every digit kept ($0.00123, ¥12.50); no currency: the plain number."""
    value = _decimal(amount)
    if not isinstance(value, Decimal):
        return value
    if not currency:
        return numbers.format_decimal(value, locale=get_locale(), decimal_quantization=False)
    return numbers.format_currency(value, currency, locale=get_locale(), decimal_quantization=False)


def money_short(amount, currency: str | None) -> str:
    """An amount for a headline: the currency's cents, or four significant digits below one unit ($0.006789)."""
    value = _decimal(amount)
    if not isinstance(value, Decimal):
        return value
    if value and abs(value) < 1:
        value = value.quantize(Decimal(1).scaleb(value.adjusted() - 3)).normalize()
        return money(value, currency)
    if not currency:
        return format_decimal(value, format="#,##0.00")
    return numbers.format_currency(value, currency, locale=get_locale())


def percent(value, digits: int = 1) -> str:
    """A share (0.1234) as a percentage for the locale: 12.3%."""
    if value is None:
        return MISSING
    return format_percent(value, format="#,##0." + "0" * digits + "%" if digits else "#,##0%")


def when(value: datetime | None, style: str = "medium") -> str:
    """A moment in AICHAT_TIMEZONE, for the locale; naive datetimes are UTC (as the database keeps them)."""
    if value is None:
        return MISSING
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return format_datetime(value, style)


def day(value: date | None, style: str = "medium") -> str:
    if value is None:
        return MISSING
    return format_date(value, style)


def duration(value) -> str:
    """Milliseconds as people read them: 850 ms, 1.2 s."""
    if value is None:
        return MISSING
    if value < 1000:
        return format_decimal(round(value), format="#,##0") + " ms"
    return format_decimal(value / 1000, format="#,##0.0") + " s"
