"""Figures from the network: flow quantities, node balances, levels and items, GB/T 2589
comprehensive consumption, and equipping rates against GB 17167.

Quantities are the daily rollups (``point_rollups``, grain ``1d``) of each flow's
metering point over local days [start, end), converted to the energy type's
catalogue unit; tce is each day's quantity at that day's coefficient
(``ems.energy.coefficients.segments`` / ``tce_by_day``), so a coefficient that
changes in mid-period gives each day its own value, and nothing in tce is stored.

What counts where (DB53/T 1026 §4.2.3-4.2.4, GB/T 2589):

* **enterprise in / out (level 1)**: flows that cross the boundary, from an
  external node into the enterprise, or out of it to an external one;
* **items**: purchase and storage = what comes in; external sale = what goes
  out; conversion = what enters conversion-stage nodes; production use / living
  use = what enters final-use nodes from an earlier stage, split by the role of
  the node's organisation unit (main, auxiliary or ancillary production versus
  living); own use = in - out;
* **comprehensive consumption** = sum over energy types of tce(in) - tce(out) -
  tce(living use). Energy converted in-house is not counted again, because only
  boundary flows enter the sum (a boiler's steam is already counted as the coal
  it burnt); purchased media enter at their (equivalent) coefficient like any
  energy. A flow that should be metered and is not makes the figure incomplete,
  and the answer says which flows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.actuals.conversion import CoefficientBook
from ems.actuals.periods import Bucket, Span
from ems.actuals.services import change_pct
from ems.energy import coefficients
from ems.errors import InvalidInput
from ems.networks.models import MeteringRequirement, NetworkFlow, NetworkNode, NodeKind, Stage
from ems.networks.services import outside
from ems.org import services as org
from ems.org.models import UnitRole
from ems.telemetry.calendar import Grain, bucket_start
from ems.telemetry.models import Point
from ems.telemetry.rollup_models import PointRollup

PRODUCTION_ROLES = frozenset(
    {UnitRole.MAIN_PRODUCTION, UnitRole.AUXILIARY_PRODUCTION, UnitRole.ANCILLARY_PRODUCTION}
)
# Longest period a figure is computed over in one request: a year of days, plus a leap day.
MAX_DAYS = 366


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The UTC instant a local calendar day begins (rollup buckets start there)."""
    return bucket_start(datetime.combine(day, time(), tzinfo=tz), Grain.D1, tz).astimezone(UTC)


def check_period(start: date, end: date) -> None:
    if end <= start:
        raise InvalidInput("the period is empty", fields={"to": ["must be after from"]})
    if (end - start).days > MAX_DAYS:
        raise InvalidInput(
            f"at most {MAX_DAYS} days per request", fields={"to": [f"at most {MAX_DAYS} days"]}
        )


def requested_period(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """Local days [start, end) asked for; by default this month so far (today included)."""
    start = start or today.replace(day=1)
    end = end or today + timedelta(days=1)
    check_period(start, end)
    return start, end


@dataclass
class FlowFigure:
    """One flow over the period: quantity in the energy type's unit, and in tce."""

    flow: NetworkFlow
    unit: str
    quantity: Decimal | None = None  # None: not metered
    tce: Decimal | None = None
    days: dict[date, Decimal] = field(default_factory=dict)
    flags: int = 0
    tce_missing: str | None = None

    @property
    def metered(self) -> bool:
        return self.flow.point_id is not None


def flow_figures(
    session: Session,
    flows: Iterable[NetworkFlow],
    start: date,
    end: date,
    tz: ZoneInfo,
    region_code: str | None,
) -> dict[int, FlowFigure]:
    """Each flow's quantity and tce over local days [start, end)."""
    check_period(start, end)
    flows = list(flows)
    points = {
        p.id: p
        for p in session.scalars(
            select(Point).where(Point.id.in_([f.point_id for f in flows if f.point_id]))
        )
    }
    daily: dict[int, dict[date, tuple[float, int]]] = defaultdict(dict)
    if points:
        rows = session.execute(
            select(
                PointRollup.point, PointRollup.start, PointRollup.consumption, PointRollup.flags
            ).where(
                PointRollup.point.in_(list(points)),
                PointRollup.grain == Grain.D1.value,
                PointRollup.start >= local_midnight(start, tz),
                PointRollup.start < local_midnight(end, tz),
            )
        )
        for point_id, bucket, consumption, flags in rows:
            day = bucket.astimezone(tz).date()
            daily[point_id][day] = (consumption or 0.0, flags)
    out: dict[int, FlowFigure] = {}
    # The actuals' coefficient book: every type read once, each day at its own coefficient.
    book = CoefficientBook(session, region_code, start, end)
    book.preload({f.energy_type for f in flows if f.point_id is not None})
    for flow in flows:
        catalogue_unit = coefficients.energy_type_row(session, flow.energy_type).unit
        figure = FlowFigure(flow=flow, unit=catalogue_unit)
        out[flow.id] = figure
        if flow.point_id is None:
            continue
        point = points[flow.point_id]
        for day, (consumption, flags) in sorted(daily[point.id].items()):
            amount = Decimal(repr(consumption))
            figure.days[day] = coefficients.convert(amount, point.unit, catalogue_unit)
            figure.flags |= flags
        converted = book.tce(flow.energy_type, catalogue_unit, figure.days)
        figure.quantity = converted.quantity
        figure.tce, figure.tce_missing = converted.tce, converted.missing
    return out


@dataclass
class Sums:
    """A sum of flows per energy type (physical) and in tce, with what it is missing."""

    quantity: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    tce: Decimal | None = Decimal(0)
    unmetered: list[int] = field(default_factory=list)
    tce_missing: set[str] = field(default_factory=set)

    def add(self, figure: FlowFigure) -> None:
        if not figure.metered:
            if figure.flow.metering_required:
                self.unmetered.append(figure.flow.id)
            return
        self.quantity[figure.flow.energy_type] += figure.quantity or Decimal(0)
        if figure.tce is None:
            self.tce_missing.add(figure.flow.energy_type)
            self.tce = None
        elif self.tce is not None:
            self.tce += figure.tce

    def as_dict(self, units: Mapping[str, str]) -> dict[str, Any]:
        return {
            "by_energy_type": [
                {"energy_type": t, "quantity": q, "unit": units[t]}
                for t, q in sorted(self.quantity.items())
            ],
            "tce": self.tce,
            "complete": not self.unmetered and not self.tce_missing,
            "unmetered_flows": sorted(self.unmetered),
            "tce_missing": sorted(self.tce_missing),
        }


@dataclass(frozen=True)
class Graph:
    """The nodes with what the figures ask of each: outside the boundary, and the GB/T 2589
    class of its organisation unit (None: no unit). Read once per request or series."""

    nodes: dict[int, NetworkNode]
    external: dict[int, bool]
    roles: dict[int, str | None]


def load_graph(session: Session) -> Graph:
    nodes = {n.id: n for n in session.scalars(select(NetworkNode).order_by(NetworkNode.code))}
    effective = org.effective_all(session)
    return Graph(
        nodes=nodes,
        external={i: outside(n, effective) for i, n in nodes.items()},
        roles={
            i: effective[n.unit_id][0] if n.unit_id in effective else None for i, n in nodes.items()
        },
    )


def enterprise_figures(
    session: Session,
    start: date,
    end: date,
    tz: ZoneInfo,
    region_code: str | None,
    energy_type: str | None = None,
    graph: Graph | None = None,
) -> dict[str, Any]:
    """Levels, items and comprehensive consumption over local days [start, end)."""
    graph = graph or load_graph(session)
    nodes, external, roles = graph.nodes, graph.external, graph.roles
    stmt = select(NetworkFlow).order_by(NetworkFlow.id)
    if energy_type is not None:
        coefficients.energy_type_row(session, energy_type)
        stmt = stmt.where(NetworkFlow.energy_type == energy_type)
    flows = list(session.scalars(stmt))
    figures = flow_figures(session, flows, start, end, tz, region_code)
    items = {
        name: Sums()
        for name in (
            "purchase_storage",
            "conversion",
            "production_use",
            "living_use",
            "external_sale",
        )
    }
    level2: dict[int, dict[str, Sums]] = defaultdict(lambda: {"in": Sums(), "out": Sums()})
    level3: dict[int, Sums] = defaultdict(Sums)
    for flow in flows:
        figure = figures[flow.id]
        source, target = nodes[flow.from_node_id], nodes[flow.to_node_id]
        if source.kind == NodeKind.UNIT and not external[source.id]:
            level2[source.id]["out"].add(figure)
        if external[target.id]:
            items["external_sale"].add(figure)
            continue
        if external[source.id]:
            items["purchase_storage"].add(figure)
        # What is bought straight into a boiler is both a purchase and a conversion input.
        if target.stage == Stage.CONVERSION:
            items["conversion"].add(figure)
        if target.stage == Stage.FINAL_USE and source.stage != Stage.FINAL_USE:
            role = roles[target.id]
            items["living_use" if role == UnitRole.LIVING else "production_use"].add(figure)
        if target.kind == NodeKind.UNIT:
            level2[target.id]["in"].add(figure)
        if target.kind == NodeKind.EQUIPMENT:
            level3[target.id].add(figure)
    units = {f.flow.energy_type: f.unit for f in figures.values()}
    bought, sold, living = (
        items["purchase_storage"],
        items["external_sale"],
        items["living_use"],
    )
    own = {t: bought.quantity.get(t, Decimal(0)) - sold.quantity.get(t, Decimal(0)) for t in units}
    comprehensive: Decimal | None = None
    if bought.tce is not None and sold.tce is not None and living.tce is not None:
        comprehensive = bought.tce - sold.tce - living.tce
    incomplete = sorted(set(bought.unmetered + sold.unmetered + living.unmetered))
    missing = sorted(bought.tce_missing | sold.tce_missing | living.tce_missing)
    return {
        "from": start,
        "to": end,
        "items": {name: sums.as_dict(units) for name, sums in items.items()}
        | {
            "own_use": {
                "by_energy_type": [
                    {"energy_type": t, "quantity": q, "unit": units[t]}
                    for t, q in sorted(own.items())
                    if t in bought.quantity or t in sold.quantity
                ]
            }
        },
        "level1": {"in": bought.as_dict(units), "out": sold.as_dict(units)},
        "level2": [
            {
                "node_id": node_id,
                "code": nodes[node_id].code,
                "name": nodes[node_id].name,
                "in": sums["in"].as_dict(units),
                "out": sums["out"].as_dict(units),
            }
            for node_id, sums in sorted(level2.items())
        ],
        "level3": [
            {
                "node_id": node_id,
                "code": nodes[node_id].code,
                "name": nodes[node_id].name,
                "in": sums.as_dict(units),
            }
            for node_id, sums in sorted(level3.items())
        ],
        "comprehensive": {
            "tce": comprehensive if not incomplete else None,
            "complete": comprehensive is not None and not incomplete,
            "unmetered_flows": incomplete,
            "tce_missing": missing,
            "rule": "GB/T 2589: boundary in - boundary out - living use, each day at its "
            "coefficient; in-house conversion counted once, as its purchased inputs",
        },
    }


def balances(
    session: Session,
    start: date,
    end: date,
    tz: ZoneInfo,
    region_code: str | None,
) -> list[dict[str, Any]]:
    """Per internal node with flows in and out: in = out + loss, per energy type and in tce."""
    graph = load_graph(session)
    flows = list(session.scalars(select(NetworkFlow)))
    figures = flow_figures(session, flows, start, end, tz, region_code)
    ins: dict[int, list[FlowFigure]] = defaultdict(list)
    outs: dict[int, list[FlowFigure]] = defaultdict(list)
    for figure in figures.values():
        ins[figure.flow.to_node_id].append(figure)
        outs[figure.flow.from_node_id].append(figure)
    result = []
    for node_id, node in graph.nodes.items():
        if not ins[node_id] or not outs[node_id] or graph.external[node_id]:
            continue
        types = sorted({f.flow.energy_type for f in ins[node_id] + outs[node_id]})
        rows = []
        for energy_type in types:
            side_in = [f for f in ins[node_id] if f.flow.energy_type == energy_type]
            side_out = [f for f in outs[node_id] if f.flow.energy_type == energy_type]
            rows.append(_balance_row(energy_type, side_in, side_out))
        tce_in = _tce_sum(ins[node_id])
        tce_out = _tce_sum(outs[node_id])
        tce_loss = None if tce_in is None or tce_out is None else tce_in - tce_out
        result.append(
            {
                "node_id": node_id,
                "code": node.code,
                "name": node.name,
                "stage": node.stage,
                "by_energy_type": rows,
                "tce": {
                    "in": tce_in,
                    "out": tce_out,
                    "loss": tce_loss,
                    "loss_rate": _rate(tce_loss, tce_in),
                },
            }
        )
    return result


def _tce_sum(figures: list[FlowFigure]) -> Decimal | None:
    if any(not f.metered or f.tce is None for f in figures):
        return None
    return sum((f.tce for f in figures if f.tce is not None), Decimal(0))


def _rate(part: Decimal | None, whole: Decimal | None) -> Decimal | None:
    if part is None or whole is None or whole == 0:
        return None
    return (part * 100 / whole).quantize(Decimal("0.01"))


def _balance_row(
    energy_type: str, side_in: list[FlowFigure], side_out: list[FlowFigure]
) -> dict[str, Any]:
    unit = (side_in or side_out)[0].unit
    complete = all(f.metered for f in side_in + side_out)
    quantity_in = sum((f.quantity or Decimal(0) for f in side_in), Decimal(0))
    quantity_out = sum((f.quantity or Decimal(0) for f in side_out), Decimal(0))
    # A node converting one energy into another has only one side in this type:
    # its balance is the tce one, not a "loss" of the whole input.
    loss = quantity_in - quantity_out if complete and side_in and side_out else None
    return {
        "energy_type": energy_type,
        "unit": unit,
        "in": quantity_in,
        "out": quantity_out,
        "loss": loss,
        "loss_rate": _rate(loss, quantity_in),
        "complete": complete,
        "unmetered_flows": sorted(f.flow.id for f in side_in + side_out if not f.metered),
    }


def _requirement(
    session: Session, energy_type: str, level: int, on: date
) -> tuple[MeteringRequirement | None, bool]:
    """The GB 17167 row in force on ``on``, or the latest earlier one (then superseded)."""
    rows = list(
        session.scalars(
            select(MeteringRequirement)
            .where(
                MeteringRequirement.energy_type == energy_type,
                MeteringRequirement.level == level,
                MeteringRequirement.valid_from <= on,
            )
            .order_by(MeteringRequirement.valid_from.desc())
        )
    )
    for row in rows:
        if row.valid_to is None or on < row.valid_to:
            return row, False
    return (rows[0], True) if rows else (None, False)


def equipping_rates(
    session: Session, on: date, energy_type: str | None = None
) -> list[dict[str, Any]]:
    """Meters equipped / required per energy type and level, against GB 17167's rate."""
    stmt = select(NetworkFlow).where(
        NetworkFlow.level.is_not(None), NetworkFlow.metering_required.is_(True)
    )
    if energy_type is not None:
        coefficients.energy_type_row(session, energy_type)
        stmt = stmt.where(NetworkFlow.energy_type == energy_type)
    counts: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    missing: dict[tuple[str, int], list[int]] = defaultdict(list)
    for flow in session.scalars(stmt):
        key = (flow.energy_type, flow.level or 0)
        counts[key][0] += 1
        if flow.point_id is not None:
            counts[key][1] += 1
        else:
            missing[key].append(flow.id)
    out = []
    for (type_code, level), (required, equipped) in sorted(counts.items()):
        rate = (Decimal(equipped) * 100 / Decimal(required)).quantize(Decimal("0.01"))
        row, superseded = _requirement(session, type_code, level, on)
        check: dict[str, Any] = {"required_rate": None, "meets": None}
        if row is not None and row.required_rate is not None:
            check = {
                "required_rate": row.required_rate,
                "meets": rate >= row.required_rate,
                "standard": f"{row.standard}-{row.edition}",
                "source": row.source,
                "note": row.note,
                "superseded": superseded,
            }
        out.append(
            {
                "energy_type": type_code,
                "level": level,
                "required": required,
                "equipped": equipped,
                "rate": rate,
                "missing_flows": missing[(type_code, level)],
                **check,
            }
        )
    return out


ITEM_NAMES = ("purchase_storage", "conversion", "production_use", "living_use", "external_sale")


def _summary(result: dict[str, Any]) -> dict[str, Decimal | None]:
    """The tce figures of one bucket that a series compares."""
    out: dict[str, Decimal | None] = {name: result["items"][name]["tce"] for name in ITEM_NAMES}
    out["level1_in"] = result["level1"]["in"]["tce"]
    out["level1_out"] = result["level1"]["out"]["tce"]
    out["comprehensive"] = result["comprehensive"]["tce"]
    return out


def series(
    session: Session,
    spans: Iterable[Span],
    tz: ZoneInfo,
    region_code: str | None,
) -> list[dict[str, Any]]:
    """Levels, items and comprehensive consumption in tce per bucket of a calendar period,
    each with year-on-year (同比) and period-on-period (环比) change.

    ``spans`` come from :func:`ems.actuals.periods.plan` (day, week, month, quarter, year or
    a custom span of whole days), so these buckets and their bases are the category
    actuals' own. A base bucket is computed once however many buckets compare with it.
    """
    cache: dict[tuple[datetime, datetime], dict[str, Decimal | None]] = {}
    graph = load_graph(session)

    def of(bucket: Bucket) -> dict[str, Decimal | None]:
        if bucket.key not in cache:
            start, end = bucket.start.astimezone(tz).date(), bucket.end.astimezone(tz).date()
            figures = enterprise_figures(session, start, end, tz, region_code, graph=graph)
            cache[bucket.key] = _summary(figures)
        return cache[bucket.key]

    out = []
    for span in spans:
        own = of(span.bucket)
        row: dict[str, Any] = {
            "label": span.bucket.label,
            "from": span.bucket.start.astimezone(tz).date(),
            "to": span.bucket.end.astimezone(tz).date(),
            "tce": own,
        }
        for name, base_bucket in (
            ("year_on_year", span.year_before),
            ("period_on_period", span.previous),
        ):
            if base_bucket is None:
                row[name] = None
                continue
            base = of(base_bucket)
            row[name] = {
                "from": base_bucket.start.astimezone(tz).date(),
                "to": base_bucket.end.astimezone(tz).date(),
                "tce": base,
                "change_pct": {key: _pct(change_pct(own[key], base[key])) for key in own},
            }
        out.append(row)
    return out


def _pct(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.01"))
