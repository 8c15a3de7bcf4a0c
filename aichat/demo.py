"""`/demo`: a host page that shows the chat widget's script tag at work, on the local site."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from aichat.runtime import runtime_of

bp = Blueprint("demo", __name__)

LOCALES = ("en", "zh-CN")


@bp.get("/demo")
def page():
    """The page, in English or Simplified Chinese (`?lang=zh-CN`), with the widget of the local site."""
    lang = request.args.get("lang") if request.args.get("lang") in LOCALES else "en"
    site = runtime_of().directory.local_site
    return render_template("demo.html", lang=lang, site_key=site.publishable_key, site_enabled=site.enabled)
