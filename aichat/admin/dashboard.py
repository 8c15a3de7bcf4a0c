"""The dashboard at /admin/: headline numbers for a period and a site, and the JSON its charts draw."""
from __future__ import annotations

from flask import current_app, jsonify, render_template, request
from flask_login import login_required

from aichat.extensions import db
from aichat.usage import dashboard

from .period import PRESET_LABELS, choose
from .views import bp


def _choice():
    sites = dashboard.known_sites(db.session)
    return choose(request.args, current_app.config, sites=set(sites)), sites


@bp.get("/")
@login_required
def index():
    choice, sites = _choice()
    numbers = dashboard.headline(db.session, choice.period, choice.previous(), choice.site)
    return render_template("admin/dashboard/index.html", choice=choice, sites=sites, labels=PRESET_LABELS,
                           numbers=numbers)


@bp.get("/dashboard/data")
@login_required
def dashboard_data():
    choice, _ = _choice()
    return jsonify({**dashboard.charts(db.session, choice.period, choice.site),
                    "field_errors": {name: str(message) for name, message in choice.errors.items()}})
