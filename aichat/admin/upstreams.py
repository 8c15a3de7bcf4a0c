"""Console: the upstreams in fallback order with live health, their keys, the model aliases, and a test call.

Each view parses, makes one change through aichat/upstreams/changes.py (which writes the audit row) and
redirects, or renders the page again with an error next to the field. Every change bumps the gateway's
configuration version, so every process uses it within a poll interval, without a restart.
"""
from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required

from aichat.crypto import EncryptionKeyError, load_keyring
from aichat.extensions import db
from aichat.gateway.specs import SpecError
from aichat.runtime import runtime_of
from aichat.upstreams import aliases, changes, listing, overview, probe, store

from . import period, upstream_forms
from .roles import role_required
from .views import bp

def _reserved() -> set[str]:
    return listing.environment_names(current_app.config)


def _index(status: int = 200, **extra):
    choice = period.choose(request.args, current_app.config)
    rows = overview.rows(db.session, current_app.config, runtime_of().gateway, choice.period)
    context = {"rows": rows, "choice": choice, "labels": period.PRESET_LABELS, "kinds": store.upstream_kinds(),
               "aliases": aliases.views(db.session, current_app.config), "form": {}, "errors": {},
               "alias_form": {}, "alias_errors": {}, **extra}
    return render_template("admin/upstreams/index.html", **context), status


def _detail(name: str, status: int = 200, **extra):
    try:
        upstream = listing.view(db.session, current_app.config, name)
    except SpecError:
        abort(404)
    live = overview.live_health(runtime_of().gateway).get(name)
    key_live = {k["label"]: k for k in (live or {}).get("keys", [])}
    context = {"u": upstream, "live": live, "key_live": key_live, "form": {}, "errors": {}, "key_form": {},
               "key_errors": {}, "result": None, **extra}
    return render_template("admin/upstreams/detail.html", **context), status


def _refused(name: str):
    """The page again with why, when `name` is not a stored upstream (the environment's, or none)."""
    if name in _reserved():
        variables = name.upper() + "_*"
        return _detail(name, 409, refusal=gettext("This upstream is defined by the environment (%(var)s): "
                                                  "change it there.", var=variables))
    if store.find(db.session, name) is None:
        abort(404)
    return None


@bp.errorhandler(SpecError)
def upstreams_conflict(exc: SpecError):
    """A change refused after its form was checked: someone changed or removed the same thing meanwhile."""
    if not (request.endpoint or "").startswith("admin.upstreams_"):
        raise exc
    db.session.rollback()
    return _index(409, error=gettext("Someone changed this at the same time: look again and retry."))


@bp.get("/upstreams")
@login_required
def upstreams_index():
    return _index()


@bp.post("/upstreams")
@role_required("admin")
def upstreams_add():
    taken = {row.name for row in store.all_upstreams(db.session)}
    values, errors = upstream_forms.upstream(request.form, store.upstream_kinds(), _reserved(), taken, adding=True)
    if errors:
        return _index(400, form=values, errors=errors)
    try:
        changes.add_upstream(db.session, values, _reserved())
    except SpecError as exc:  # a change made meanwhile by someone else
        return _index(409, form=values, errors={"name": str(exc)})
    flash(gettext("Upstream %(name)s added: add a key to use it.", name=values["name"]))
    return redirect(url_for("admin.upstreams_detail", name=values["name"]))


@bp.get("/upstreams/<name>")
@login_required
def upstreams_detail(name: str):
    return _detail(name)


@bp.post("/upstreams/<name>")
@role_required("admin")
def upstreams_edit(name: str):
    if (refused := _refused(name)) is not None:
        return refused
    values, errors = upstream_forms.upstream(request.form, [], (), (), adding=False)
    if errors:
        return _detail(name, 400, form=values, errors=errors)
    changes.update_upstream(db.session, name, values, _reserved())
    flash(gettext("Upstream %(name)s saved.", name=name))
    return redirect(url_for("admin.upstreams_detail", name=name))


@bp.post("/upstreams/<name>/enable", defaults={"action": "enable"})
@bp.post("/upstreams/<name>/disable", defaults={"action": "disable"})
@role_required("admin")
def upstreams_switch(name: str, action: str):
    if (refused := _refused(name)) is not None:
        return refused
    changes.set_enabled(db.session, name, action == "enable", _reserved())
    flash(gettext("Upstream %(name)s enabled.", name=name) if action == "enable"
          else gettext("Upstream %(name)s disabled: requests no longer go to it.", name=name))
    return redirect(request.form.get("back") == "detail" and url_for("admin.upstreams_detail", name=name)
                    or url_for("admin.upstreams_index"))


@bp.post("/upstreams/<name>/remove")
@role_required("admin")
def upstreams_remove(name: str):
    if (refused := _refused(name)) is not None:
        return refused
    changes.remove_upstream(db.session, name, _reserved())
    flash(gettext("Upstream %(name)s removed, with its keys.", name=name))
    return redirect(url_for("admin.upstreams_index"))


@bp.post("/upstreams/<name>/move")
@role_required("admin")
def upstreams_move(name: str):
    if (refused := _refused(name)) is not None:
        return refused
    direction = request.form.get("direction")
    if direction not in ("up", "down"):
        return _index(400, error=gettext("Move an upstream up or down."))
    try:
        changes.move(db.session, overview.movable_chain(db.session, current_app.config), name, direction == "up",
                     _reserved())
    except SpecError:
        return _index(409, error=gettext("Its place is set by AICHAT_PROVIDER_ORDER: change it there."))
    return redirect(url_for("admin.upstreams_index"))


@bp.post("/upstreams/<name>/test")
@role_required("admin")
def upstreams_test(name: str):
    try:
        spec = probe.spec_of(db.session, current_app.config, name, _keyring)
        if spec is None:
            abort(404)
        result = probe.run(current_app.config, spec, request.form.get("label") or None)
    except EncryptionKeyError:
        return _no_keyring(name)
    except SpecError:
        return _detail(name, 400, test_error=gettext("Add a key, or enable one, to test this upstream."))
    return _detail(name, result=result)


def _keyring():
    return load_keyring(current_app.config, current_app.instance_path)


def _no_keyring(name: str):
    """The page again saying the encryption key is unusable (a setting to fix, not a request to retry)."""
    return _detail(name, 409, refusal=gettext("The encryption key (AICHAT_ENCRYPTION_KEY) cannot be used: "
                                              "`flask verify` says why."))


@bp.post("/upstreams/<name>/keys")
@role_required("admin")
def upstreams_key_add(name: str):
    if (refused := _refused(name)) is not None:
        return refused
    labels = {k.label for k in store.get(db.session, name).keys}
    values, errors = upstream_forms.key(request.form, labels)
    if errors:
        return _detail(name, 400, key_form={"label": values["label"]}, key_errors=errors)
    try:
        changes.add_key(db.session, _keyring(), name, values["label"], values["secret"], _reserved())
    except EncryptionKeyError:
        return _no_keyring(name)
    except SpecError:  # the same key stored already under another label
        return _detail(name, 400, key_form={"label": values["label"]},
                       key_errors={"secret": upstream_forms.MESSAGES["secret_twice"]})
    flash(gettext("Key %(label)s added to %(name)s.", label=values["label"], name=name))
    return redirect(url_for("admin.upstreams_detail", name=name))


@bp.post("/upstreams/<name>/keys/enable", defaults={"action": "enable"})
@bp.post("/upstreams/<name>/keys/disable", defaults={"action": "disable"})
@bp.post("/upstreams/<name>/keys/remove", defaults={"action": "remove"})
@role_required("admin")
def upstreams_key_change(name: str, action: str):
    if (refused := _refused(name)) is not None:
        return refused
    label = request.form.get("label", "")
    if label not in {k.label for k in store.get(db.session, name).keys}:
        abort(404)
    if action == "remove":
        changes.remove_key(db.session, name, label, _reserved())
    else:
        changes.set_key_enabled(db.session, name, label, action == "enable", _reserved())
    return redirect(url_for("admin.upstreams_detail", name=name))


@bp.post("/upstreams/-/aliases")
@role_required("admin")
def upstreams_alias_set():
    values, errors = upstream_forms.alias(request.form, current_app.config)
    if errors:
        return _index(400, alias_form=values, alias_errors=errors)
    changes.set_alias(db.session, current_app.config, values["alias"], values["target"])
    flash(gettext("Alias %(alias)s now stands for %(target)s.", alias=values["alias"], target=values["target"]))
    return redirect(url_for("admin.upstreams_index"))


@bp.post("/upstreams/-/aliases/remove")
@role_required("admin")
def upstreams_alias_remove():
    name = request.form.get("alias", "")
    if name in current_app.config["AICHAT_MODEL_ALIASES"]:
        return _index(409, error=upstream_forms.MESSAGES["alias_environment"])
    if name not in aliases.stored(db.session):
        abort(404)
    changes.remove_alias(db.session, current_app.config, name)
    return redirect(url_for("admin.upstreams_index"))
