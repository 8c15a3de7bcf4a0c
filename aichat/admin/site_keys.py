"""Console: a site's client keys — issue, revoke, rotate. A new key is shown once, on the page that answers the
POST that made it: never stored in clear, never in a redirect, the session, a log line or the audit row.

Changes go through aichat/tenancy/keys.py (as `flask keys …`), which bumps the tenancy version: every process
accepts a new key, and refuses a revoked one, after its next poll.
"""
from __future__ import annotations

from flask import abort, redirect, request, url_for

from aichat import audit
from aichat.extensions import db
from aichat.models import ClientKey
from aichat.tenancy import keys
from aichat.tenancy.specs import SpecError

from . import site_forms as forms
from .roles import role_required
from .sites import edit_page, show_once, site_or_404, store
from .views import bp


def _audit(action: str, before: dict | None, after: dict | None) -> None:
    """As `flask keys …` records it: the key's prefix and settings, never the key."""
    audit.record(action, "client_key", (after or before or {}).get("prefix", ""), before=before, after=after)


def _key_or_404(site, prefix: str) -> ClientKey:
    row = next((key for key in site.keys if key.prefix == prefix), None)
    if row is None:
        abort(404)
    return row


def _refused(site, errors: dict[str, str], form_name: str):
    """The site page again, with the key form's errors next to its fields."""
    current = store.site_dict(site)
    return edit_page(site, current, forms.form_values(current), {}, 400, key_errors=errors,
                      key_form=form_name, key_values=request.form)


@bp.post("/sites/<domain>/keys")
@role_required("admin")
def sites_key_create(domain: str):
    site = site_or_404(domain)
    parsed = forms.key_form(request.form)
    if parsed.errors:
        return _refused(site, parsed.errors, "issue")
    try:
        issued = keys.create(db.session, site.domain, **parsed.values)
    except SpecError as exc:
        parsed.refused(exc, forms.KEY_FIELDS)
        return _refused(site, parsed.errors, "issue")
    _audit("keys.create", None, issued.after)
    return show_once("admin/sites/key_issued.html", site=site.domain, key=issued.key, issued=issued.after,
                 replaced=None)


@bp.post("/sites/<domain>/keys/<prefix>/revoke")
@role_required("admin")
def sites_key_revoke(domain: str, prefix: str):
    site = site_or_404(domain)
    before, after = keys.revoke(db.session, _key_or_404(site, prefix))
    if before != after:
        _audit("keys.revoke", before, after)
    return redirect(url_for("admin.sites_edit", domain=site.domain, _anchor="keys"))


@bp.post("/sites/<domain>/keys/<prefix>/rotate")
@role_required("admin")
def sites_key_rotate(domain: str, prefix: str):
    site = site_or_404(domain)
    row = _key_or_404(site, prefix)
    parsed = forms.rotate_form(request.form)
    if not parsed.errors:
        try:
            issued, old_after = keys.rotate(db.session, row, parsed.values["grace"], parsed.values["expires_in"])
        except SpecError as exc:  # revoked, or rotated already
            parsed.refused(exc, ())
        else:
            _audit("keys.rotate", issued.before, old_after)
            _audit("keys.create", None, issued.after)
            return show_once("admin/sites/key_issued.html", site=site.domain, key=issued.key, issued=issued.after,
                         replaced=old_after)
    return _refused(site, parsed.errors, prefix)
