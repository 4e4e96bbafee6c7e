"""Network pages: the metering network (计量网络图, GB/T 33656) and the energy balance network
(能量平衡网络图, GB/T 28749) diagrams, with comprehensive consumption (综合能耗, GB/T 2589),
the balance and loss of each node, and equipping rates (配备率, GB 17167).

The diagram is the API's own SVG (``diagrams.diagram``) shown inline; the figures are the
API's services (``figures.enterprise_figures``, ``balances``, ``equipping_rates``). With no
network yet, the page offers the default build (``POST /network/default-build``).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import request
from marshmallow import validate
from sqlalchemy import func, select

from ems.actuals.conversion import load_catalogue
from ems.db import utcnow
from ems.errors import InvalidInput
from ems.networks import diagrams, figures, services
from ems.networks.models import NetworkFlow, NetworkNode, Stage
from ems.networks.schemas import DefaultBuildSchema, PeriodQuerySchema
from ems.portal.i18n import current_language, mark
from ems.portal.web import (
    FieldErrors,
    flatten,
    load_query,
    page,
    pages_blueprint,
    see_other,
    service_errors,
)
from ems.telemetry.models import Point
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row

blp = pages_blueprint("network_pages", __name__)

ITEMS = {
    "purchase_storage": mark("Purchase and storage"),
    "conversion": mark("Conversion"),
    "production_use": mark("Production use"),
    "living_use": mark("Living use"),
    "external_sale": mark("External sale"),
}
STAGES = {
    Stage.PURCHASE_STORAGE.value: mark("Purchase and storage"),
    Stage.CONVERSION.value: mark("Conversion"),
    Stage.DISTRIBUTION.value: mark("Distribution"),
    Stage.FINAL_USE.value: mark("Final use"),
    Stage.RECOVERY.value: mark("Recovery"),
    Stage.EXPORT.value: mark("Export"),
}
PICKER_ARGS = ("from", "to", "energy_type", "live")
# Offered for a first build when no point says which energy types the plant uses.
USUAL_TYPES = ("electricity",)


class NetworkPickerSchema(PeriodQuerySchema):
    """The API's figures period and energy type, and the diagram's live values."""

    # A catalogue code's shape, checked before the database sees it (a NUL byte would be
    # refused by PostgreSQL itself, as a server error).
    energy_type = ma.fields.String(
        validate=[
            validate.Length(min=1, max=32),
            validate.Regexp(r"^[a-z0-9_]+\Z", error="not in the catalogue"),
        ]
    )
    live = ma.fields.Boolean(load_default=False)


def link_args(values: dict[str, str], **changes: str) -> dict[str, str]:
    """The page's current arguments with ``changes`` (blank and unknown ones dropped)."""
    merged = {**values, **changes}
    return {k: v for k, v in merged.items() if v and k in PICKER_ARGS}


def _zone() -> ZoneInfo:
    return ZoneInfo(bound_tenant_row().timezone)


def _type_names() -> dict[str, str]:
    zh = current_language() == "zh"
    return {code: row.name_zh if zh else row.name_en for code, row in load_catalogue(db()).items()}


def _network_types() -> list[str]:
    return list(
        db().scalars(select(NetworkFlow.energy_type).distinct().order_by(NetworkFlow.energy_type))
    )


def _used_types() -> list[str]:
    """The energy types the plant's points measure: what a first build is likely for."""
    used = db().scalars(select(Point.energy_type).distinct().where(Point.energy_type.is_not(None)))
    catalogue = load_catalogue(db())
    return sorted(t for t in used if t in catalogue) or list(USUAL_TYPES)


def _figures(data: dict[str, Any]) -> dict[str, Any]:
    """The diagram and the figures, from the services the API calls."""
    tz = _zone()
    today = utcnow().astimezone(tz).date()
    start, end = figures.requested_period(data.get("from_"), data.get("to"), today)
    energy_type = data.get("energy_type")
    region = bound_tenant_row().region_code
    return {
        "svg": diagrams.diagram(db(), energy_type, data["live"]),
        "start": start,
        "end": end,
        "figures": figures.enterprise_figures(db(), start, end, tz, region, energy_type),
        "balances": figures.balances(db(), start, end, tz, region),
        "rates": figures.equipping_rates(db(), today, energy_type),
    }


def _index(errors: FieldErrors | None = None, checked: list[str] | None = None) -> Any:
    errors = dict(errors or {})
    has_network = bool(db().scalar(select(func.count()).select_from(NetworkNode)))
    values = {k: v.strip() for k, v in request.args.items()}
    shown: dict[str, Any] = {}
    if has_network and not errors:
        data, errors = load_query(NetworkPickerSchema())
        if not errors:
            try:
                shown = _figures(data)
            except InvalidInput as error:
                errors = service_errors(error)
        errors = _on_the_form(errors)
    return page(
        "networks/index.html",
        errors=errors,
        values=values,
        has_network=has_network,
        shown=shown,
        network_types=_network_types(),
        type_names=_type_names(),
        build_types=checked if checked is not None else _used_types(),
        items=ITEMS,
        stages=STAGES,
        link_args=link_args,
    )


def _on_the_form(errors: FieldErrors) -> FieldErrors:
    # The energy type is a tab, not a field of the picker: its error heads the form.
    out = {k: v for k, v in errors.items() if k != "energy_type"}
    if "energy_type" in errors:
        out.setdefault("_form", []).extend(errors["energy_type"])
    return out


def _on_checkboxes(errors: FieldErrors) -> FieldErrors:
    # The build names one energy type ("energy_types.0", "energy_type"): the form has one
    # group of checkboxes for them all.
    out: FieldErrors = {}
    for key, messages in errors.items():
        field = "energy_types" if key.startswith("energy_type") else key
        out.setdefault(field, []).extend(messages)
    return out


@blp.get("/networks/")
def index() -> Any:
    """The diagrams and the figures of a period (default: this month so far)."""
    return _index()


@blp.post("/networks/default-build")
def default_build() -> Any:
    """Add the nodes and flows the unit hierarchy implies (only what is missing)."""
    chosen = request.form.getlist("energy_types")
    try:
        data = DefaultBuildSchema().load({"energy_types": chosen})
        services.default_build(db(), data["energy_types"])
    except ma.ValidationError as error:
        return _index(_on_checkboxes(flatten(error.messages)), chosen)
    except InvalidInput as error:
        return _index(_on_checkboxes(service_errors(error)), chosen)
    return see_other("network_pages.index", slug=bound_tenant_row().slug)
