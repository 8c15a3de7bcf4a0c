"""Console: sites — list, create, edit (origins, preset, limits with what is left today, address lists, widget and
conversation settings), enable, disable, remove, and identity secret rotation. Client keys: site_keys.py.

Every change goes through the tenancy store the CLI uses (aichat/tenancy/sites.py), which bumps the tenancy
version so every process serves it after its next poll, and is audited under the CLI's action names.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from aichat import audit
from aichat.api.limits import quota_view
from aichat.crypto import EncryptionKeyError, load_keyring
from aichat.extensions import db
from aichat.runtime import runtime_of
from aichat.tenancy import identity_secret, keys
from aichat.tenancy import sites as store
from aichat.tenancy.directory import LOCAL_DOMAIN
from aichat.tenancy.store import aware
from aichat.tenancy.specs import CLIENT_SYSTEM_MODES, LIMIT_NAMES, ON_DISCONNECT_MODES, SpecError
from aichat.usage import by_site
from aichat.usage.days import today, usage_zone
from aichat.usage.queries import Period

from . import period as picker
from . import site_forms as forms
from .roles import role_required
from .views import bp

USAGE_DAYS = 7


def site_or_404(domain: str):
    row = store.find(db.session, domain)
    if row is None:
        abort(404)
    return row


def _done(action: str, change: store.Change) -> store.Change:
    """One audit row per change, as `flask sites …` writes it (nothing when the change changed nothing)."""
    if change.before != change.after:
        site = change.after or change.before
        audit.record(action, "site", site["domain"], before=change.before, after=change.after)
    return change


@bp.get("/sites")
@login_required
def sites_index():
    zone = usage_zone(current_app.config)
    last = today(zone)
    rows = store.all_sites(db.session)
    usage = by_site.per_site(db.session, Period(last - timedelta(days=USAGE_DAYS - 1), last, zone), rows)
    return render_template("admin/sites/index.html", sites=[store.site_dict(row) | {"id": row.id} for row in rows],
                           counts=store.key_counts(db.session), usage=usage, days=USAGE_DAYS)


def _form_page(site: dict | None, values: dict, errors: dict, status: int = 200, **more):
    return render_template("admin/sites/form.html", site=site, values=values, errors=errors,
                           client_system_modes=CLIENT_SYSTEM_MODES, on_disconnect_modes=ON_DISCONNECT_MODES,
                           limit_names=LIMIT_NAMES, local_domain=LOCAL_DOMAIN, **more), status


@bp.get("/sites/new")
@role_required("admin")
def sites_new():
    return _form_page(None, forms.form_values(None), {})


@bp.post("/sites")
@role_required("admin")
def sites_create():
    parsed = forms.site_form(request.form)
    if not parsed.errors:
        try:
            change = _create(parsed)
        except SpecError as exc:
            parsed.refused(exc, forms.SITE_FIELDS)
        else:
            _done("sites.create", change)
            return redirect(url_for("admin.sites_edit", domain=change.after["domain"], saved=1))
    return _form_page(None, request.form, parsed.errors, 400)


def _create(parsed: forms.Parsed) -> store.Change:
    """The new site, then its conversation settings when they are not the defaults: one change to record."""
    values = parsed.values
    change = store.create_site(db.session, values["domain"], values["origins"],
                               reserved_origins=current_app.config["AICHAT_ALLOWED_ORIGINS"],
                               **forms.create_arguments(parsed))
    settings = {name: value for name, value in values["conversations"].items() if change.after[name] != value}
    if settings:
        change = store.Change(None, store.update_site(db.session, values["domain"], conversations=settings).after)
    return change


@bp.get("/sites/<domain>")
@login_required
def sites_edit(domain: str):
    row = site_or_404(domain)
    site = store.site_dict(row)
    return edit_page(row, site, forms.form_values(site), {}, saved=request.args.get("saved") == "1")


def edit_page(row, site: dict, values, errors: dict, status: int = 200, **more):
    """The edit form, with what is left of each limit today and the site's client keys and their usage."""
    choice = picker.choose(request.args, current_app.config)
    key_rows = keys.listed(db.session, row.domain)
    return _form_page(site, values, errors, status, keys=[_key(k) for k in key_rows],
                      usage=by_site.per_key(db.session, choice.period, [k.prefix for k in key_rows]),
                      left=_left(row.domain), choice=choice, labels=picker.PRESET_LABELS, **more)


def _left(domain: str) -> list[dict]:
    """What is used and left now of each of the site's own limits, as the limits engine counts them."""
    runtime = runtime_of()
    runtime.tenancy.poll()  # a change just made here is counted at once (one version read; no reload otherwise)
    if runtime.quota is None:
        return []
    found = quota_view(runtime.quota, runtime.directory, domain)["sites"]
    return [{**item, "resets": datetime.fromisoformat(item["resets_at"].replace("Z", "+00:00"))}
            for item in (found[0]["limits"] if found else [])]


def _key(row) -> dict:
    """A key as its row on the page shows it: its settings, its state's kind, its moments as datetimes."""
    shown = keys.as_dict(row)
    return {**shown, "kind": shown["state"].split(" ")[0], "expires": aware(row.expires_at),
            "last_used": aware(row.last_used_at), "created": aware(row.created_at)}


@bp.post("/sites/<domain>")
@role_required("admin")
def sites_update(domain: str):
    row = site_or_404(domain)
    current = store.site_dict(row)
    parsed = forms.site_form(request.form)
    if not parsed.errors:
        try:
            change = store.update_site(db.session, row.domain, reserved_origins=current_app.config[
                "AICHAT_ALLOWED_ORIGINS"], **forms.update_arguments(parsed, current))
        except SpecError as exc:
            parsed.refused(exc, forms.SITE_FIELDS)
        else:
            _done("sites.update", change)
            return redirect(url_for("admin.sites_edit", domain=change.after["domain"], saved=1))
    return edit_page(store.get(db.session, domain), current, request.form, parsed.errors, 400)


@bp.post("/sites/<domain>/enabled")
@role_required("admin")
def sites_enable(domain: str):
    row = site_or_404(domain)
    enabled = request.form.get("enabled") == "1"
    _done("sites.enable" if enabled else "sites.disable", store.set_enabled(db.session, row.domain, enabled))
    return redirect(url_for("admin.sites_edit", domain=row.domain))


@bp.get("/sites/<domain>/remove")
@role_required("admin")
def sites_remove_confirm(domain: str):
    row = site_or_404(domain)
    return render_template("admin/sites/remove.html", site=store.site_dict(row), keys=len(row.keys),
                           local=row.domain == LOCAL_DOMAIN)


@bp.post("/sites/<domain>/remove")
@role_required("admin")
def sites_remove(domain: str):
    row = site_or_404(domain)
    try:
        _done("sites.remove", store.remove_site(db.session, row.domain))
    except SpecError:
        return render_template("admin/sites/remove.html", site=store.site_dict(row), keys=len(row.keys),
                               local=True), 409
    return redirect(url_for("admin.sites_index"))


@bp.post("/sites/<domain>/identity-secret")
@role_required("admin")
def sites_identity_secret(domain: str):
    """A new identity secret, shown on this answer only; the old one verifies for the grace period chosen."""
    row = site_or_404(domain)
    parsed = forms.secret_form(request.form)
    if parsed.errors:
        site = store.site_dict(row)
        return edit_page(row, site, forms.form_values(site), parsed.errors, 400)
    had = bool(row.identity_secret)
    try:
        keyring = load_keyring(current_app.config, current_app.instance_path)
    except EncryptionKeyError:
        abort(503, description=gettext("The encryption keys cannot be loaded: no secret can be stored."))
    secret, change = identity_secret.rotate(db.session, keyring, row.domain,
                                            parsed.values["grace"] if had else timedelta(0))
    _done("sites.identity_secret.rotate" if had else "sites.identity_secret.create", change)
    return show_once("admin/sites/secret.html", site=change.after, secret=secret)


def show_once(template: str, **context):
    """A page holding a secret shown this once: never cached, never kept by the browser's history."""
    response = current_app.make_response(render_template(template, **context))
    response.headers["Cache-Control"] = "no-store"
    return response


from . import site_keys  # noqa: E402,F401 - the client key views of this area
