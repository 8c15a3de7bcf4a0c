"""The console's menu: one entry per area, shown once its view exists, in the order admins work through them."""
from __future__ import annotations

from typing import NamedTuple

from flask import current_app, request
from flask_babel import lazy_gettext as _l


class Area(NamedTuple):
    endpoint: str
    label: object  # a lazy string: translated when shown


AREAS = (
    Area("admin.index", _l("Dashboard")),
    Area("admin.costs_index", _l("Costs")),
    Area("admin.logs_index", _l("Logs")),
    Area("admin.errors_index", _l("Errors")),
    Area("admin.upstreams_index", _l("Upstreams")),
    Area("admin.sites_index", _l("Sites")),
    Area("admin.conversations_index", _l("Conversations")),
    Area("admin.prices_index", _l("Prices")),
    Area("admin.admins_index", _l("Admins")),
    Area("admin.audit_index", _l("Audit log")),
    Area("admin.playground_index", _l("Playground")),
)


def menu() -> list[tuple[Area, bool]]:
    """The areas this app serves, each with whether it is the one being shown."""
    views = current_app.view_functions
    here = request.endpoint or ""

    def shown(area: Area) -> bool:  # admin.logs_index covers admin.logs_detail, admin.logs_export …
        # The dashboard's own prefix: "admin." would cover every page.
        prefix = "admin.dashboard_" if area.endpoint == "admin.index" else area.endpoint.removesuffix("index")
        return here == area.endpoint or here.startswith(prefix)

    return [(area, shown(area)) for area in AREAS if area.endpoint in views]


ROLE_NAMES = {"viewer": _l("viewer"), "admin": _l("admin"), "owner": _l("owner")}


def template_helpers() -> dict:
    """What every console template may call: the menu, whether a view exists, whether the admin may act."""
    from .roles import acting_admin, has_role

    return {"console_menu": menu, "has_view": lambda endpoint: endpoint in current_app.view_functions,
            "can": lambda role: has_role(acting_admin(), role),
            "role_name": lambda role: ROLE_NAMES.get(role, role)}
