"""The console's help: the documents of docs/, listed and read as HTML, for any signed-in admin."""
from __future__ import annotations

from flask import abort, render_template, url_for
from flask_login import login_required

from . import docs
from .views import bp


@bp.get("/help/")
@login_required
def help_index():
    return render_template("admin/help/index.html", docs=docs.docs())


@bp.get("/help/<name>")
@login_required
def help_page(name: str):
    page = docs.page(name, base=url_for("admin.help_index"))  # an unknown name never becomes a path
    if page is None:
        abort(404)
    return render_template("admin/help/page.html", page=page, docs=docs.docs())
