"""Reconciliation: what each gateway says it produced against what the cloud stored.

Every gateway sends, per UTC day, a completeness ledger: for each point the
number of readings it holds, the intervals it missed (gaps) and an
order-independent digest of its readings (``openapi/edge-wire.md`` section 6).
Here the same count and digest are computed over the stored rows, with the
wire's own ``DigestAccumulator``, so both sides hash exactly the same bytes.

What the agent produced must be accounted for on this side either as a stored
reading, or as a quarantined one: refused by the business layer (unknown
point, out of range, clock skew) or a *duplicate*, a second reading at a
stored time with another value. So, per point and day::

    accounted = stored + duplicates + quarantined
    lost      = agent count - accounted   (when positive)
    phantom   = accounted - agent count   (when positive: stored rows the agent never made)
    mismatched: counts agree but the digests do not (values or times differ)

A difference on a *settled* day (ended some hours ago, and the ledger computed
after its end) raises a ``reconciliation`` event for the gateway and point. A
day still open is reported but raises nothing: its readings may be in flight.

Completeness is readings received over readings expected, where expected is
the agent's count plus its gaps (and, for a configured point the agent did not
report at all, the intervals of the day since the point existed).
"""

from __future__ import annotations

import enum
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ems.telemetry.models import (
    GatewayEvent,
    GatewayLedger,
    Layer,
    Point,
    Quality,
    QuarantineEntry,
    Reading,
    Reconciliation,
)
from ems_edge.wire import DigestAccumulator

# The ingest's reason for a repeat with another value (ems.ingest.core uses it).
CONFLICT_REASON = "conflicts with the stored value"
EVENT_KIND = "reconciliation"
# A day is settled this long after it ends, if its ledger was computed after the end.
SETTLE = timedelta(hours=2)
# Readings the platform made itself (gap fills, manual entry) are not the gateway's.
_FROM_GATEWAY = (Quality.VALID, Quality.SUSPECT)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class Status(enum.StrEnum):
    """The outcome for one point and day."""

    MATCH = "match"
    DIFFERENCE = "difference"  # lost, phantom, duplicate or mismatched readings
    UNKNOWN_POINT = "unknown_point"  # the ledger names a point the tenant has not configured
    NOT_REPORTED = "not_reported"  # a configured point missing from the gateway's ledger
    NO_LEDGER = "no_ledger"  # readings stored, but no ledger from the gateway for that day


_RAISING = (Status.DIFFERENCE, Status.UNKNOWN_POINT, Status.NOT_REPORTED)


@dataclass(frozen=True)
class Outcome:
    """A reconciliation run over some gateway-days."""

    rows: int
    differences: int
    events: int


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a ledger day covers, [start, end)."""
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


def _ms(ts: datetime) -> int:
    return (ts - _EPOCH) // _MS


def reconcile_day(session: Session, gateway_id: str, day: date, now: datetime) -> Outcome:
    """Reconcile one gateway's UTC day; replaces the earlier result for that day."""
    start, end = day_bounds(day)
    ledger = session.get(GatewayLedger, (gateway_id, day))
    points = {
        p.code: p for p in session.scalars(select(Point).where(Point.gateway_id == gateway_id))
    }
    by_id = {p.id: p.code for p in points.values()}
    stored: dict[str, DigestAccumulator] = defaultdict(DigestAccumulator)
    if by_id:
        rows = session.execute(
            select(Reading.point, Reading.ts, Reading.value).where(
                Reading.point.in_(list(by_id)),
                Reading.ts >= start,
                Reading.ts < end,
                Reading.quality.in_([int(q) for q in _FROM_GATEWAY]),
            )
        )
        for point_id, ts, value in rows:
            stored[by_id[point_id]].add(_ms(ts), value)
    duplicates, quarantined = _quarantined(session, gateway_id, start, end)
    settled = ledger is not None and now >= end + SETTLE and ledger.at_ms >= _ms(end)
    codes = set(stored) | set(duplicates) | set(quarantined)
    if ledger is not None:
        codes |= set(ledger.points) | set(points)
    results = []
    for code in sorted(codes):
        point = points.get(code)
        entry = ledger.points.get(code) if ledger is not None else None
        results.append(
            _compare(
                code,
                point,
                ledger,
                entry,
                stored.get(code, DigestAccumulator()),
                duplicates.get(code, DigestAccumulator()),
                quarantined.get(code, DigestAccumulator()),
                start,
                end,
            )
        )
    session.query(Reconciliation).filter(
        Reconciliation.gateway_id == gateway_id, Reconciliation.day == day
    ).delete(synchronize_session=False)
    events = 0
    for row in results:
        row.update(gateway_id=gateway_id, day=day, settled=settled, checked_at=now)
        session.add(Reconciliation(**row))
        if settled and row["status"] in _RAISING:
            _raise(session, gateway_id, start, row)
            events += 1
    session.flush()
    differences = sum(1 for r in results if r["status"] != Status.MATCH)
    return Outcome(len(results), differences, events)


def _quarantined(
    session: Session, gateway_id: str, start: datetime, end: datetime
) -> tuple[dict[str, DigestAccumulator], dict[str, DigestAccumulator]]:
    """Readings of the day refused one by one: (duplicates, other refusals) per point code.

    A resent batch is quarantined again, so each distinct (code, time, value) counts once.
    """
    rows = session.execute(
        select(
            QuarantineEntry.point_code,
            QuarantineEntry.ts,
            QuarantineEntry.value,
            func.bool_or(QuarantineEntry.reason.startswith(CONFLICT_REASON)),
        )
        .where(
            QuarantineEntry.gateway_id == gateway_id,
            QuarantineEntry.channel == "readings",
            QuarantineEntry.layer == Layer.BUSINESS,
            QuarantineEntry.point_code.is_not(None),
            QuarantineEntry.value.is_not(None),
            QuarantineEntry.ts >= start,
            QuarantineEntry.ts < end,
        )
        .group_by(QuarantineEntry.point_code, QuarantineEntry.ts, QuarantineEntry.value)
    )
    duplicates: dict[str, DigestAccumulator] = defaultdict(DigestAccumulator)
    others: dict[str, DigestAccumulator] = defaultdict(DigestAccumulator)
    for code, ts, value, conflict in rows:
        (duplicates if conflict else others)[code].add(_ms(ts), value)
    return duplicates, others


def _compare(
    code: str,
    point: Point | None,
    ledger: GatewayLedger | None,
    entry: dict[str, Any] | None,
    stored: DigestAccumulator,
    duplicates: DigestAccumulator,
    quarantined: DigestAccumulator,
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    accounted = DigestAccumulator()
    for part in (stored, duplicates, quarantined):
        accounted.merge(part)
    row: dict[str, Any] = {
        "code": code,
        "point_id": point.id if point is not None else None,
        "ledger_at_ms": ledger.at_ms if ledger is not None else None,
        "stored_count": stored.count,
        "stored_digest": stored.hexdigest(),
        "duplicates": duplicates.count,
        "quarantined": quarantined.count,
        "agent_count": None,
        "agent_gaps": None,
        "agent_digest": None,
        "lost": 0,
        "phantom": 0,
        "mismatched": False,
    }
    if entry is not None:
        count, gaps, digest = int(entry["count"]), int(entry["gaps"]), str(entry["digest"])
        row.update(agent_count=count, agent_gaps=gaps, agent_digest=digest)
        row["lost"] = max(0, count - accounted.count)
        row["phantom"] = max(0, accounted.count - count)
        row["mismatched"] = accounted.count == count and accounted.hexdigest() != digest
        row["expected"] = count + gaps
        row["received"] = min(stored.count, count)
        # Refused readings are accounted for, not lost, but the day is still short of them.
        clean = stored.count == count and stored.hexdigest() == digest
        if point is None:
            row["status"] = Status.UNKNOWN_POINT
        else:
            row["status"] = Status.MATCH if clean else Status.DIFFERENCE
        return row
    row["received"] = 0
    if ledger is None:
        row.update(status=Status.NO_LEDGER, expected=0)
        return row
    # The gateway's ledger of the day leaves this point out.
    row["phantom"] = accounted.count
    row["status"] = Status.NOT_REPORTED
    row["expected"] = _intervals(point, start, min(end, _EPOCH + ledger.at_ms * _MS))
    return row


def _intervals(point: Point | None, start: datetime, until: datetime) -> int:
    """How many readings a configured point should have made in [start, until)."""
    if point is None:
        return 0
    since = max(start, point.created_at) if point.created_at is not None else start
    if until <= since:
        return 0
    return int((until - since).total_seconds()) // max(1, point.interval_s)


def _raise(session: Session, gateway_id: str, start: datetime, row: dict[str, Any]) -> None:
    reason = describe(row)
    stmt = insert(GatewayEvent).values(
        gateway_id=gateway_id,
        at=start,
        kind=EVENT_KIND,
        reason=reason,
        point=row["code"],
        received_at=func.now(),
    )
    # Idempotent per gateway, day and point; a rerun refreshes the figures it states.
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["gateway_id", "at", "kind", "bus", "meter", "point"],
            set_={"reason": reason, "received_at": func.now()},
        )
    )


def describe(row: dict[str, Any]) -> str:
    """A one-line account of a point-day's difference, for a plant engineer."""
    status = row["status"]
    if status == Status.UNKNOWN_POINT:
        return f"the gateway reports point {row['code']!r}, which is not configured"
    if status == Status.NOT_REPORTED:
        return (
            f"point {row['code']!r} is configured but missing from the gateway's ledger"
            f" ({row['stored_count']} readings stored)"
        )
    parts = [
        f"{row[name]} {name}"
        for name in ("lost", "phantom", "duplicates", "quarantined")
        if row.get(name)
    ]
    if row.get("mismatched"):
        parts.append("values or times differ (digest mismatch)")
    return f"gateway counted {row['agent_count']}, stored {row['stored_count']}: " + ", ".join(
        parts
    )


def days_to_check(session: Session, now: datetime, lookback_days: int = 2) -> set[tuple[str, date]]:
    """Gateway-days worth reconciling now: recent days, and days whose ledger just changed."""
    today = now.astimezone(UTC).date()
    since = today - timedelta(days=lookback_days)
    changed = now - timedelta(days=lookback_days)
    rows = session.execute(
        select(GatewayLedger.gateway_id, GatewayLedger.day).where(
            or_(GatewayLedger.day >= since, GatewayLedger.received_at >= changed)
        )
    )
    pairs = {(gateway_id, day) for gateway_id, day in rows}
    # A gateway that stored readings but sent no ledger is reported too.
    for (gateway_id,) in session.execute(select(Point.gateway_id).distinct()):
        for offset in range(lookback_days + 1):
            pairs.add((gateway_id, today - timedelta(days=offset)))
    return pairs


def reconcile(session: Session, pairs: Iterable[tuple[str, date]], now: datetime) -> Outcome:
    """Reconcile several gateway-days."""
    rows = differences = events = 0
    for gateway_id, day in sorted(pairs):
        outcome = reconcile_day(session, gateway_id, day, now)
        rows += outcome.rows
        differences += outcome.differences
        events += outcome.events
    return Outcome(rows, differences, events)


@dataclass(frozen=True)
class Completeness:
    """Readings received over readings expected for a tenant, over some UTC days."""

    start: date
    end: date  # inclusive
    expected: int
    received: int
    days: list[dict[str, Any]]

    @property
    def rate(self) -> float | None:
        """The share received, None when nothing was expected."""
        return self.received / self.expected if self.expected else None


def completeness(
    session: Session, start: date, end: date, gateway_id: str | None = None
) -> Completeness:
    """The tenant's completeness from its reconciliations of days ``start`` to ``end``."""
    stmt = (
        select(
            Reconciliation.day,
            func.coalesce(func.sum(Reconciliation.expected), 0),
            func.coalesce(func.sum(Reconciliation.received), 0),
            func.count().filter(Reconciliation.status != Status.MATCH),
        )
        .where(Reconciliation.day >= start, Reconciliation.day <= end)
        .group_by(Reconciliation.day)
        .order_by(Reconciliation.day)
    )
    if gateway_id is not None:
        stmt = stmt.where(Reconciliation.gateway_id == gateway_id)
    days: list[dict[str, Any]] = []
    total_expected = total_received = 0
    for day, expected, received, differences in session.execute(stmt):
        total_expected += int(expected)
        total_received += int(received)
        days.append(
            {
                "day": day,
                "expected": int(expected),
                "received": int(received),
                "rate": int(received) / int(expected) if expected else None,
                "differences": int(differences),
            }
        )
    return Completeness(start, end, total_expected, total_received, days)


__all__ = [
    "CONFLICT_REASON",
    "Completeness",
    "Outcome",
    "Status",
    "completeness",
    "days_to_check",
    "reconcile",
    "reconcile_day",
]
