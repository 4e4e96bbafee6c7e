"""Provincial upload page (DB53/T 1026 §4.11): the platform accounts and their status, upload
completeness (完整率) and timeliness (及时率) per day, failures by reason, the latest
requests to the platforms, and the figures waiting for a correction.

Every figure comes from the services of the upload API (``stats.day_statistics``,
``stats.failures``, ``search.requests``, ``search.items``, ``outbox.backlog``).
Registering and sending talk to a platform: they stay in the API and the sender for now.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from flask import request

from ems.db import utcnow
from ems.errors import InvalidInput
from ems.portal.i18n import gettext, mark
from ems.portal.web import load_query, page, pages_blueprint, service_errors
from ems.upload import outbox, profiles, search, stats
from ems.upload.models import ItemStatus, StatType
from ems.upload.stats_schemas import DayRangeSchema
from ems.web.pipeline import db
from ems.web.tenancy import bound_tenant_row

blp = pages_blueprint("upload_pages", __name__)
RECENT_REQUESTS = 20
CORRECTION_ROWS = 50
STAT_TYPES = {
    StatType.REALTIME.value: mark("Real-time"),
    StatType.DAY.value: mark("Day"),
    StatType.MONTH.value: mark("Month"),
    StatType.YEAR.value: mark("Year"),
}


def _statistics(data: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """Completeness, timeliness and failures over the chosen days (as the API's)."""
    start, end = search.days(data, utcnow().astimezone(tz).date())
    registration_id = data.get("registration_id")
    found = stats.day_statistics(db(), start, end, tz, utcnow(), registration_id)
    low, high = stats.day_bounds(start, end, tz)
    failed, waiting = stats.failures(db(), low, high, registration_id)
    return {
        "start": start,
        "end": end,
        "registrations": found,
        "failed": failed,
        "waiting": waiting,
    }


def chart(found: list[stats.RegistrationStats]) -> dict[str, Any]:
    """Completeness and timeliness per day of each registration, for a line chart."""
    days = [d.day.isoformat() for d in found[0].days] if found else []
    series = []
    for reg in found:
        for name, rates in (
            (gettext("Completeness"), [d.completeness for d in reg.days]),
            (gettext("Timeliness"), [d.timeliness for d in reg.days]),
        ):
            series.append({"name": f"{reg.profile} {name}", "data": rates})
    return {"x": days, "series": series}


def _profile_names() -> dict[str, str]:
    return {code: p.name for code, p in profiles.all_profiles().items()}


@blp.get("/upload/")
def index() -> Any:
    """Accounts, statistics of the chosen days (default: the last seven), log, corrections."""
    tz = ZoneInfo(bound_tenant_row().timezone)
    registrations = stats.registrations(db())
    data, errors = load_query(DayRangeSchema())
    shown: dict[str, Any] = {}
    if not errors:
        try:
            shown = _statistics(data, tz)
        except InvalidInput as error:
            errors = service_errors(error)
    if shown:
        shown["chart"] = chart(shown["registrations"])
    correction = {"status": ItemStatus.CORRECTION.value}
    names = _profile_names()
    return page(
        "upload/index.html",
        errors=errors,
        values={k: v.strip() for k, v in request.args.items()},
        registrations=registrations,
        backlog={reg.id: outbox.backlog(db(), reg.id) for reg in registrations},
        profile_names=names,
        registration_options=[(str(r.id), names.get(r.profile, r.profile)) for r in registrations],
        shown=shown,
        requests=list(db().scalars(search.requests({}, tz).limit(RECENT_REQUESTS))),
        corrections=list(db().scalars(search.items(correction, tz).limit(CORRECTION_ROWS))),
        stat_types=STAT_TYPES,
        zone=tz.key,
    )
