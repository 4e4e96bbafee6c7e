"""What a regulator reads: enterprises of its region and the control-schema copies of
what they uploaded (``uploaded_figures``, ``upload_day_stats``, ``uploaded_submissions``).

Nothing here opens a tenant schema: a regulator sees what the platforms accepted,
never the readings or ledgers behind it. Suspended enterprises stay visible (their
uploads are history a regulator may need) and are marked; pending, rejected and
deleted ones are not (they never uploaded, or their credit code may now belong to
a new subscription).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Date, Select, cast, func, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session, aliased

from ems.errors import InvalidInput, NotFound
from ems.upload.models import UploadDayStats, UploadedFigure, UploadedSubmission
from ems.upload.stats import DayStats, Tally, check_days, midnight
from ems_tenants.models import Tenant, TenantStatus
from ems_tenants.validation import region_prefix, region_within

# Region-wide days (totals, statistics) are cut in China Standard Time; one
# enterprise's days in its own zone (the same one, for every tenant so far).
REGION_TZ = ZoneInfo("Asia/Shanghai")
VISIBLE = (TenantStatus.ACTIVE, TenantStatus.SUSPENDED)
PLANT_PREFIX = "00000000"  # digits 1-8: whole plant, no process, no equipment
COMPREHENSIVE = "0000"  # digits 11-14: comprehensive energy consumption
DEFAULT_DAYS = 30  # the range a regulator sees first


def in_region(scope: str) -> ColumnElement[bool]:
    """Enterprises a regulator of ``scope`` may see."""
    return Tenant.region_code.startswith(region_prefix(scope), autoescape=True) & (
        Tenant.status.in_(VISIBLE)
    )


def enterprises(scope: str) -> Select[Any]:
    """The region's enterprises, by region code and name."""
    return select(Tenant).where(in_region(scope)).order_by(Tenant.region_code, Tenant.name)


def day_range(
    start: date | None, end: date | None, tz: ZoneInfo, now: datetime
) -> tuple[date, date]:
    """The inclusive local days asked for (default: the last 30, today included)."""
    last = end or now.astimezone(tz).date()
    first = start or last - timedelta(days=DEFAULT_DAYS - 1)
    check_days(first, last)
    return first, last


def access_enterprise(session: Session, scope: str, credit_code: str) -> Tenant:
    """The enterprise with ``credit_code`` in the region; 404 alike for missing and foreign."""
    tenant = session.scalar(
        select(Tenant).where(Tenant.credit_code == credit_code.upper(), in_region(scope))
    )
    if tenant is None or not region_within(scope, tenant.region_code):
        raise NotFound("enterprise not found")
    return tenant


def latest_submissions(session: Session, tenant_id: int, kind: str) -> list[UploadedSubmission]:
    """The latest accepted submission of ``kind`` ('info' | 'meters') per platform."""
    sub = UploadedSubmission
    return list(
        session.scalars(
            select(sub)
            .where(sub.tenant_id == tenant_id, sub.kind == kind)
            .ext(distinct_on(sub.profile))
            .order_by(sub.profile, sub.accepted_at.desc(), sub.id.desc())
        )
    )


def figures(
    tenant: Tenant,
    *,
    stat_type: int | None = None,
    code: str | None = None,
    first: date | None = None,
    last: date | None = None,
    all_versions: bool = False,
) -> Select[Any]:
    """An enterprise's accepted figures (the latest version of each, unless all).

    ``code`` may be written with hyphens (2-2-4-6-2); ``InvalidInput`` when the
    range is reversed.
    """
    if first is not None and last is not None and first > last:
        raise InvalidInput("'from' is after 'to'", fields={"from": ["after 'to'"]})
    fig = UploadedFigure
    stmt = select(fig).where(fig.tenant_id == tenant.id)
    if stat_type is not None:
        stmt = stmt.where(fig.stat_type == stat_type)
    if code is not None:
        stmt = stmt.where(fig.code == code.replace("-", ""))
    tz = ZoneInfo(tenant.timezone)
    if first is not None:
        stmt = stmt.where(fig.period_start >= midnight(first, tz))
    if last is not None:
        stmt = stmt.where(fig.period_start < midnight(last + timedelta(days=1), tz))
    if not all_versions:
        latest = (
            stmt.ext(distinct_on(fig.profile, fig.code, fig.stat_type, fig.period_start))
            .order_by(fig.profile, fig.code, fig.stat_type, fig.period_start, fig.version.desc())
            .subquery()
        )
        fig = aliased(UploadedFigure, latest)
        stmt = select(fig)
    return stmt.order_by(fig.period_start, fig.stat_type, fig.code, fig.profile, fig.version)


@dataclass
class EnterpriseTally(Tally):
    """Upload statistics of one enterprise over a range (as published)."""

    days_reported: int = 0

    @property
    def warning(self) -> bool:
        return self.expected == 0 or super().warning

    @property
    def message(self) -> str | None:
        if self.expected == 0:
            return "该时段无上传统计 / no upload statistics for the period"
        return super().message


@dataclass
class ProfileDays(Tally):
    """One enterprise's published statistics on one platform, with its days."""

    profile: str = ""
    days: list[DayStats] = field(default_factory=list)


def _day_rows(session: Session, tenant_ids: list[int], first: date, last: date) -> Any:
    stats = UploadDayStats
    return session.scalars(
        select(stats)
        .where(stats.tenant_id.in_(tenant_ids), stats.day >= first, stats.day <= last)
        .order_by(stats.tenant_id, stats.profile, stats.day)
    )


def tallies(
    session: Session, tenant_ids: list[int], first: date, last: date
) -> dict[int, EnterpriseTally]:
    """Published statistics summed per enterprise (every platform it uploads to)."""
    out = {tenant_id: EnterpriseTally() for tenant_id in tenant_ids}
    for row in _day_rows(session, tenant_ids, first, last):
        tally = out[row.tenant_id]
        tally.add(Tally(row.expected, row.uploaded, row.on_time, row.failed_requests))
        tally.days_reported += 1
    return out


def day_statistics(session: Session, tenant_id: int, first: date, last: date) -> list[ProfileDays]:
    """Published statistics of one enterprise per platform and day."""
    out: dict[str, ProfileDays] = {}
    for row in _day_rows(session, [tenant_id], first, last):
        entry = out.setdefault(row.profile, ProfileDays(profile=row.profile))
        day = DayStats(row.expected, row.uploaded, row.on_time, row.failed_requests, day=row.day)
        entry.add(day)
        entry.days.append(day)
    return list(out.values())


@dataclass
class Breakdown:
    """One whole-plant energy code in one period, summed over the region."""

    data_type: str  # digits 9-10
    energy_code: str  # digits 11-14
    value: Any
    enterprises: int


@dataclass
class PeriodTotal:
    """Region totals of one period (a local statDate)."""

    stat_date: str
    total: Any = None  # comprehensive consumption, None when no enterprise uploaded it
    enterprises: int = 0
    by_energy: list[Breakdown] | None = None


def _latest_plant_figures(scope: str, stat_type: int, first: date, last: date) -> Any:
    """Per enterprise, whole-plant code and period: the latest accepted value (any platform)."""
    fig = UploadedFigure
    local = func.timezone(Tenant.timezone, fig.period_start)
    # A margin of a day each side for zones other than CST; the local date decides.
    lo = midnight(first, REGION_TZ) - timedelta(days=1)
    hi = midnight(last + timedelta(days=2), REGION_TZ)
    return (
        select(fig.tenant_id, fig.code, local.label("local_start"), fig.value)
        .join(Tenant, Tenant.id == fig.tenant_id)
        .where(
            in_region(scope),
            fig.stat_type == stat_type,
            func.substr(fig.code, 1, 8) == PLANT_PREFIX,
            fig.period_start >= lo,
            fig.period_start < hi,
            cast(local, Date) >= first,
            cast(local, Date) <= last,
        )
        .ext(distinct_on(fig.tenant_id, fig.code, fig.period_start))
        .order_by(fig.tenant_id, fig.code, fig.period_start, fig.accepted_at.desc())
        .subquery()
    )


def totals(
    session: Session, scope: str, stat_type: int, first: date, last: date
) -> list[PeriodTotal]:
    """Per period: the region's whole-plant comprehensive consumption, and per energy code."""
    latest = _latest_plant_figures(scope, stat_type, first, last)
    energy = func.substr(latest.c.code, 11, 4)
    periods: dict[datetime, PeriodTotal] = {}

    def period(start: datetime) -> PeriodTotal:
        found = periods.get(start)
        if found is None:
            found = periods[start] = PeriodTotal(f"{start:%Y-%m-%d %H:%M:%S}", by_energy=[])
        return found

    for start, total, count in session.execute(
        select(
            latest.c.local_start,
            func.sum(latest.c.value),
            func.count(func.distinct(latest.c.tenant_id)),
        )
        .where(energy == COMPREHENSIVE)
        .group_by(latest.c.local_start)
    ):
        entry = period(start)
        entry.total, entry.enterprises = total, count
    data_type = func.substr(latest.c.code, 9, 2)
    for start, kind, code, value, count in session.execute(
        select(
            latest.c.local_start,
            data_type,
            energy,
            func.sum(latest.c.value),
            func.count(func.distinct(latest.c.tenant_id)),
        )
        .group_by(latest.c.local_start, data_type, energy)
        .order_by(latest.c.local_start, data_type, energy)
    ):
        by_energy = period(start).by_energy
        assert by_energy is not None  # noqa: S101 - always a list here
        by_energy.append(Breakdown(kind, code, value, count))
    return [periods[start] for start in sorted(periods)]
