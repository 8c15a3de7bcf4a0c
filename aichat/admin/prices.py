"""Console: the model price table with its history; add a price, import and export CSV.

A price applies to usage rows recorded from then on; rows already recorded keep their cost. Every change
writes the audit row the CLI writes (`prices.set`, `prices.import`).
"""
from __future__ import annotations

import io

from flask import Response, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import login_required

from aichat import audit
from aichat.api.params import plain
from aichat.usage import prices

from .logfilters import CONTROL_CHARACTER
from .roles import role_required
from .views import bp

MAX_IMPORT_BYTES = 1_000_000  # a price table is a few hundred lines
FORM_FIELDS = ("model", "currency", "input_per_mtok", "cached_input_per_mtok", "output_per_mtok", "valid_from",
               "above_prompt_tokens", "source")
MESSAGES = {
    "model": _l("Name the model, at most 128 characters."),
    "currency": _l("Three capital letters, such as USD or CNY."),
    "input_per_mtok": _l("A price per million tokens: a number, 0 or more, at most 6 decimal places."),
    "cached_input_per_mtok": _l("Empty (billed like input), or a number, 0 or more, at most 6 decimal places."),
    "output_per_mtok": _l("A price per million tokens: a number, 0 or more, at most 6 decimal places."),
    "valid_from": _l("A date as YYYY-MM-DD (empty: today)."),
    "above_prompt_tokens": _l("A whole number of tokens, 0 or more (0: every call)."),
    "source": _l("At most 255 characters."),
}


def _page(status: int = 200, **extra):
    model = request.args.get("model", "").strip()[:128] or None
    if model is not None and not plain(model):
        model, status, extra = None, 400, {"filter_error": CONTROL_CHARACTER, **extra}
    context = {"rows": prices.listing(model, everything=True), "model": model or "", "form": {"currency": "USD"},
               "errors": {}, "import_error": None,
               "refresh": current_app.config["AICHAT_PRICE_REFRESH"], **extra}
    return render_template("admin/prices/index.html", **context), status


@bp.get("/prices")
@login_required
def prices_index():
    return _page()


@bp.post("/prices")
@role_required("admin")
def prices_add():
    raw = {name: request.form.get(name, "")[:300] for name in FORM_FIELDS}
    errors = {field: MESSAGES[field] for field in prices.problems(raw)}
    if errors:
        return _page(400, form=raw, errors=errors)
    price = prices.parse_price(raw)
    existing = prices.find(price)
    before = prices.as_record(existing) if existing is not None else None
    prices.save([price])
    audit.record("prices.set", "price", prices.target(price), before=before, after=prices.as_record(prices.find(price)))
    flash(gettext("Price of %(model)s from %(day)s saved; it applies to new usage rows.", model=price["model"],
                  day=price["valid_from"].isoformat()))
    return redirect(url_for("admin.prices_index"))


@bp.get("/prices/export.csv")
@login_required
def prices_export():
    out = io.StringIO()
    prices.export_csv(out)
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": "attachment; filename=aichat-prices.csv"})


@bp.post("/prices/import")
@role_required("admin")
def prices_import():
    upload = request.files.get("file")
    data = upload.read(MAX_IMPORT_BYTES + 1) if upload else b""
    if not data or len(data) > MAX_IMPORT_BYTES:
        return _page(400, import_error=gettext("Choose a CSV file of at most 1 MB."))
    try:
        parsed = prices.read_prices(data.decode("utf-8"), upload.filename or "")
    except (UnicodeDecodeError, prices.PriceError) as exc:
        detail = str(exc) if isinstance(exc, prices.PriceError) else "not UTF-8"
        return _page(400, import_error=gettext("Nothing imported: %(detail)s", detail=detail))
    added, updated = prices.save(parsed)
    audit.record("prices.import", "price", upload.filename or "-",
                 after={"added": added, "updated": updated, "models": sorted({p["model"] for p in parsed})})
    flash(gettext("Imported %(added)d new and %(updated)d updated prices; they apply to new usage rows.",
                  added=added, updated=updated))
    return redirect(url_for("admin.prices_index"))
