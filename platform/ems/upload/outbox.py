"""The upload outbox: figures queued per (code, statType, period, version) and sent until accepted.

Queueing (:func:`queue`) computes the mapped codes' figures from the rollups
(:mod:`ems.upload.figures`) for every closed period not queued yet, and again for
a look-back window (late data recomputes rollups; a changed figure is queued as
the next version and sent again). Values are converted to the dictionary's unit
and rounded to its precision when queued, so what is sent is what is stored.

Sending (:func:`send`) takes pending rows oldest deadline first, checks each
against the dictionary in use, and posts them in batches. Per answer:

- accepted: the rows are accepted, and a copy goes to ``control.uploaded_figures``
  (what regulators read);
- refused with a message the profile lists as a request-wide failure (decryption,
  device id, access key): nothing is wrong with the rows; they stay pending and the
  registration backs off;
- refused otherwise: some row is wrong. The batch is split in halves until the
  wrong rows stand alone; those wait for correction with the platform's message,
  the others are sent;
- 5xx, timeout, unreachable: the rows stay pending; back off.

Back-off doubles from 5 minutes to at most an hour (the construction code's slowest
cadence), and the next attempt resumes with the oldest row, so after an outage the
backlog goes out in order. A row is never deleted: a newer version supersedes it,
or it waits for correction with its reason, visible in ``/upload/items``.

Delivery is at least once: if the process dies between the platform's answer and
the commit, the batch is sent again; the platform keeps one value per (code,
statType, statDate), so the repeat changes nothing there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from ems.telemetry.intervals import Flag
from ems.upload import codes, figures, periods, profiles, registration
from ems.upload.client import Exchange, PlatformClient
from ems.upload.models import (
    ItemStatus,
    StatType,
    UploadCode,
    UploadedFigure,
    UploadItem,
    UploadRegistration,
)
from ems.upload.profiles import Profile

log = logging.getLogger(__name__)

# How far back each cycle recomputes already queued periods (late data, corrections).
LOOKBACK = {
    StatType.REALTIME: timedelta(hours=2),
    StatType.DAY: timedelta(days=3),
    StatType.MONTH: timedelta(days=40),
    StatType.YEAR: timedelta(days=400),
}
# A period is queued this long after it closed: the rollups run every minute.
SETTLE = timedelta(minutes=3)
# After the worker itself was down: queue missed real-time periods this far back at most
# (the edge buffer's 15 days).
MAX_CATCH_UP = timedelta(days=15)
BACKOFF_FIRST = timedelta(minutes=5)
BACKOFF_MAX = timedelta(hours=1)
_NOT_VALID = Flag.ESTIMATED | Flag.SUSPECT | Flag.NEGATIVE
_FLAG_OF = {
    StatType.REALTIME: "realtime",
    StatType.DAY: "day",
    StatType.MONTH: "month",
    StatType.YEAR: "year",
}


@dataclass
class Queued:
    """What one :func:`queue` call did."""

    new: int = 0
    corrected: int = 0  # a new version of a figure whose value changed
    for_correction: int = 0  # queued, but cannot be sent as it is
    unchanged: int = 0


@dataclass
class Sent:
    """What one :func:`send` call did."""

    accepted: int = 0
    for_correction: int = 0
    requests: int = 0
    failed: bool = False  # stopped on a failure; backing off
    reason: str | None = None
    exchanges: list[Exchange] = field(default_factory=list)


def _dictionary(session: Session, reg: UploadRegistration) -> codes.Dictionary | None:
    """The dictionary in use, loaded once per session (queue and send share it)."""
    if reg.dic_version is None:
        return None
    cache: dict[tuple[int, str], codes.Dictionary] = session.info.setdefault(
        "ems_upload_dictionaries", {}
    )
    key = (reg.id, reg.dic_version)
    if key not in cache:
        cache[key] = codes.Dictionary.load(session, reg.id, reg.dic_version)
    return cache[key]


def _prepare(
    figure: figures.Figure,
    code: str,
    dictionary: codes.Dictionary,
    profile: Profile,
) -> tuple[Decimal | None, str | None]:
    """The value as the platform wants it (its unit, its precision), or why it cannot be."""
    if figure.value is None:
        return None, figure.reason or "no data for the period"
    value = figure.value
    unit = dictionary.unit_of(code, profile.code_dictionaries)
    if unit and figure.unit and unit != figure.unit:
        converted = figures.convert(value, figure.unit, unit)
        if converted is None:
            return None, f"cannot convert {figure.unit} to the dictionary's unit {unit}"
        value = converted
    precision = dictionary.precision_of(code, profile.code_dictionaries)
    if precision is not None:
        value = value.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP)
    return value, None


def _problems(item: UploadItem, dictionary: codes.Dictionary, profile: Profile) -> str | None:
    """Why a queued row cannot be sent as it is (None: it can)."""
    if item.value is None:
        return item.reason or "no value"
    found = dictionary.check(item.code, profile.code_dictionaries)
    if found:
        return "; ".join(found)
    precision = dictionary.precision_of(item.code, profile.code_dictionaries)
    decimals = -item.value.normalize().as_tuple().exponent  # type: ignore[operator]
    if precision is not None and decimals > precision:
        return (
            f"value {item.value.normalize()} has {decimals} decimals; dictionary version "
            f"{dictionary.version} allows {precision} for code {item.code}"
        )
    return None


def _latest(
    session: Session, reg_id: int, stat_type: StatType, starts: Sequence[datetime]
) -> dict[tuple[str, datetime], UploadItem]:
    if not starts:
        return {}
    rows = session.scalars(
        select(UploadItem)
        .where(
            UploadItem.registration_id == reg_id,
            UploadItem.stat_type == stat_type,
            UploadItem.period_start.in_(list(starts)),
        )
        .order_by(UploadItem.version)
    )
    return {(row.code, row.period_start): row for row in rows}


def _starts(
    reg: UploadRegistration,
    stat_type: StatType,
    tz: ZoneInfo,
    now: datetime,
    since: datetime | None,
    until: datetime | None,
) -> list[datetime]:
    minutes = reg.realtime_minutes
    if since is not None and until is not None:
        return periods.closed_between(stat_type, since, min(until, now), tz, minutes)
    start = now - LOOKBACK[stat_type]
    if stat_type is StatType.REALTIME:
        # Go on from where the last cycle stopped (the worker may have been down); the
        # first cycle starts at registration: history is a manual upload's job.
        resume = reg.realtime_queued_to or reg.registered_at
        if resume is not None:
            start = max(min(start, resume), now - MAX_CATCH_UP)
    if reg.registered_at is not None:
        # Nothing before the account existed (a period it was opened in counts).
        start = max(start, periods.floor(stat_type, reg.registered_at, tz, minutes))
    return periods.closed_between(stat_type, start, now - SETTLE, tz, minutes)


def queue(
    session: Session,
    reg: UploadRegistration,
    tz: ZoneInfo,
    now: datetime,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    stat_types: Iterable[StatType] = tuple(StatType),
) -> Queued:
    """Compute and queue the figures of closed periods (new ones and changed ones).

    Without ``since``/``until`` (the automatic cycle): the periods closed since the
    last cycle plus the look-back window. With them (a manual upload): exactly the
    periods inside.
    """
    done = Queued()
    dictionary = _dictionary(session, reg)
    if dictionary is None:
        return done  # nothing can be coded before the dictionaries are in
    profile = profiles.get(reg.profile)
    mapped = session.scalars(
        select(UploadCode).where(UploadCode.registration_id == reg.id, UploadCode.enabled.is_(True))
    ).all()
    for stat_type in stat_types:
        chosen = [c for c in mapped if getattr(c, _FLAG_OF[stat_type])]
        starts = _starts(reg, stat_type, tz, now, since, until)
        if since is None:
            # Rows waiting for correction are computed again each cycle, however old:
            # a new dictionary or late data may have fixed them.
            waiting = session.scalars(
                select(UploadItem.period_start)
                .where(
                    UploadItem.registration_id == reg.id,
                    UploadItem.stat_type == stat_type,
                    UploadItem.status == ItemStatus.CORRECTION,
                    UploadItem.period_start >= now - MAX_CATCH_UP,
                )
                .distinct()
            ).all()
            starts = sorted(set(starts) | set(waiting))
        if stat_type is StatType.REALTIME and starts and since is None:
            last_end = periods.end(stat_type, starts[-1], tz, reg.realtime_minutes)
            if reg.realtime_queued_to is None or last_end > reg.realtime_queued_to:
                reg.realtime_queued_to = last_end
        if not chosen or not starts:
            continue
        values = figures.compute(
            session, chosen, stat_type, starts, tz=tz, minutes=reg.realtime_minutes
        )
        latest = _latest(session, reg.id, stat_type, starts)
        for code in chosen:
            for start in starts:
                figure = values.get((code.id, start))
                if figure is None:
                    figure = figures.Figure(None, None, 0, "not computed")
                value, reason = _prepare(figure, code.code, dictionary, profile)
                valid = not (Flag(figure.flags) & _NOT_VALID)
                before = latest.get((code.code, start))
                if before is not None and before.status != ItemStatus.SUPERSEDED:
                    same = before.value == value and before.valid == valid
                    if same and (value is not None or before.status == ItemStatus.CORRECTION):
                        done.unchanged += 1
                        continue
                    if value is None and before.status == ItemStatus.ACCEPTED:
                        # The data behind an accepted figure vanished (e.g. a reading
                        # deleted): keep what was accepted; nothing to send instead.
                        done.unchanged += 1
                        continue
                    if before.status in (ItemStatus.PENDING, ItemStatus.CORRECTION):
                        before.status = ItemStatus.SUPERSEDED
                        before.reason = "superseded by a newer figure before it was accepted"
                    done.corrected += 1
                else:
                    done.new += 1
                status = ItemStatus.PENDING if reason is None else ItemStatus.CORRECTION
                if status is ItemStatus.CORRECTION:
                    done.for_correction += 1
                session.add(
                    UploadItem(
                        registration_id=reg.id,
                        code_id=code.id,
                        code=code.code,
                        stat_type=stat_type,
                        period_start=start,
                        version=1 if before is None else before.version + 1,
                        value=value,
                        input_type=code.input_type,
                        scope=code.scope,
                        valid=valid,
                        flags=int(figure.flags),
                        status=status,
                        reason=reason,
                        queued_at=now,
                        due_at=periods.due(
                            stat_type, start, tz, reg.realtime_minutes, reg.upload_time
                        ),
                    )
                )
    session.flush()
    return done


def revalidate(session: Session, reg: UploadRegistration) -> tuple[int, int]:
    """Check queued rows against the dictionary now in use.

    Pending rows it no longer allows wait for correction (with the reason); rows
    waiting for correction that it allows again are pending again. Returns
    (to correction, back to pending).
    """
    dictionary = _dictionary(session, reg)
    if dictionary is None:
        return 0, 0
    profile = profiles.get(reg.profile)
    blocked = released = 0
    rows = session.scalars(
        select(UploadItem).where(
            UploadItem.registration_id == reg.id,
            UploadItem.status.in_([ItemStatus.PENDING, ItemStatus.CORRECTION]),
        )
    )
    for item in rows:
        problem = _problems(item, dictionary, profile)
        if item.status == ItemStatus.PENDING and problem:
            item.status = ItemStatus.CORRECTION
            item.reason = problem
            blocked += 1
        elif item.status == ItemStatus.CORRECTION and problem is None:
            item.status = ItemStatus.PENDING
            item.reason = None
            released += 1
    return blocked, released


def wire_row(item: UploadItem, profile: Profile, tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    """One ``data[]`` row as the platform wants it."""
    return {
        "dataCode": profile.format_code(item.code),
        "dataValue": item.value,
        "inputType": item.input_type,
        "statType": item.stat_type,
        "statDate": periods.stat_date(item.period_start, tz, profile.timestamp_format),
        "uploadDate": periods.stat_date(now, tz, profile.timestamp_format),
        "scope": item.scope,
        "valid": profile.encode_valid(item.valid),
    }


def _backoff(reg: UploadRegistration, now: datetime) -> None:
    reg.consecutive_failures += 1
    delay = min(BACKOFF_FIRST * 2 ** (reg.consecutive_failures - 1), BACKOFF_MAX)
    reg.backoff_until = now + delay


def _accept(
    session: Session, tenant_id: int, reg: UploadRegistration, items: list[UploadItem], at: datetime
) -> None:
    for item in items:
        item.status = ItemStatus.ACCEPTED
        item.accepted_at = at
        item.reason = None
    session.execute(
        insert(UploadedFigure)
        .values(
            [
                {
                    "tenant_id": tenant_id,
                    "profile": reg.profile,
                    "code": item.code,
                    "stat_type": item.stat_type,
                    "period_start": item.period_start,
                    "version": item.version,
                    "value": item.value,
                    "scope": item.scope,
                    "valid": item.valid,
                    "accepted_at": at,
                }
                for item in items
            ]
        )
        .on_conflict_do_nothing()
    )


def _request_wide(profile: Profile, exchange: Exchange) -> bool:
    message = exchange.message or ""
    return any(marker in message for marker in profile.retry_messages)


class _Sender:
    """One send run of one registration (state shared by the recursive halves)."""

    def __init__(
        self,
        session: Session,
        tenant_id: int,
        reg: UploadRegistration,
        client: PlatformClient,
        secret: str,
        tz: ZoneInfo,
        now: datetime,
        manual: bool,
    ) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.reg = reg
        self.client = client
        self.secret = secret
        self.tz = tz
        self.now = now
        self.manual = manual
        self.profile = profiles.get(reg.profile)
        self.result = Sent()

    def post(self, items: list[UploadItem]) -> Exchange:
        for item in items:
            item.attempts += 1
            item.last_attempt_at = self.now
        rows = [wire_row(item, self.profile, self.tz, self.now) for item in items]
        exchange = self.client.data(rows)
        registration.keep_exchanges(
            self.session,
            self.reg,
            self.client,
            self.secret,
            item_ids=[item.id for item in items],
            manual=self.manual,
        )
        self.result.requests += 1
        self.result.exchanges.append(exchange)
        return exchange

    def deliver(self, items: list[UploadItem]) -> bool:
        """Send ``items``; False when a request-wide failure stops the run."""
        exchange = self.post(items)
        if exchange.ok:
            _accept(self.session, self.tenant_id, self.reg, items, exchange.at)
            self.result.accepted += len(items)
            return True
        reason = exchange.message or exchange.outcome
        if exchange.outcome != "refused" or _request_wide(self.profile, exchange):
            for item in items:
                item.reason = f"{exchange.outcome}: {reason}"
            self.result.failed = True
            self.result.reason = f"{exchange.outcome}: {reason}"
            return False
        if len(items) == 1:
            # The platform refused this row alone: it waits for correction, with why.
            items[0].status = ItemStatus.CORRECTION
            items[0].reason = f"refused by the platform: {reason}"
            self.result.for_correction += 1
            # The platform may know a newer dictionary: check versions next cycle.
            self.reg.checked_at = None
            return True
        middle = len(items) // 2
        return self.deliver(items[:middle]) and self.deliver(items[middle:])


def pending(session: Session, reg_id: int, limit: int) -> list[UploadItem]:
    """The next rows to send: oldest deadline first, then period, type, code, version."""
    return list(
        session.scalars(
            select(UploadItem)
            .where(
                UploadItem.registration_id == reg_id,
                UploadItem.status == ItemStatus.PENDING,
            )
            .order_by(
                UploadItem.due_at,
                UploadItem.period_start,
                UploadItem.stat_type,
                UploadItem.code,
                UploadItem.version,
            )
            .limit(limit)
        )
    )


def send(
    session: Session,
    tenant_id: int,
    reg: UploadRegistration,
    client: PlatformClient,
    secret: str,
    tz: ZoneInfo,
    now: datetime,
    *,
    manual: bool = False,
    max_batches: int = 200,
    commit: Callable[[], None] | None = None,
) -> Sent:
    """Send pending rows until none is left, a failure stops it, or ``max_batches``.

    ``commit`` (if given) is called after each batch, so what the platform accepted
    is recorded before the next request.
    """
    sender = _Sender(session, tenant_id, reg, client, secret, tz, now, manual)
    if not manual and reg.backoff_until is not None and now < reg.backoff_until:
        return sender.result
    dictionary = _dictionary(session, reg)
    if dictionary is None:
        sender.result.reason = "no dictionary downloaded yet"
        return sender.result
    profile = sender.profile
    for _ in range(max_batches):
        batch = pending(session, reg.id, profile.batch_size)
        if not batch:
            break
        ready: list[UploadItem] = []
        for item in batch:
            problem = _problems(item, dictionary, profile)
            if problem:
                item.status = ItemStatus.CORRECTION
                item.reason = problem
                sender.result.for_correction += 1
            else:
                ready.append(item)
        invalid = [item for item in batch if item.status == ItemStatus.CORRECTION]
        if invalid:
            _log_invalid(session, reg, invalid, now, manual)
        if ready and not sender.deliver(ready):
            _backoff(reg, now)
            if commit is not None:
                commit()
            break
        reg.consecutive_failures = 0
        reg.backoff_until = None
        if commit is not None:
            commit()
        if len(batch) < profile.batch_size:
            break  # that was the last of them
    return sender.result


def _log_invalid(
    session: Session,
    reg: UploadRegistration,
    items: list[UploadItem],
    now: datetime,
    manual: bool,
) -> None:
    """Rows held back before sending are logged like a refusal, with each reason."""
    reasons = "; ".join(
        f"{item.code}@{item.period_start.isoformat()}: {item.reason}" for item in items
    )
    registration.record(
        session,
        reg.id,
        Exchange(
            endpoint="data",
            url=reg.urls.get("data", ""),
            at=now,
            duration_ms=0,
            outcome="invalid",
            message=f"held back for correction, not sent: {reasons}"[:4000],
            rows=len(items),
        ),
        item_ids=[item.id for item in items],
        manual=manual,
    )


def backlog(session: Session, reg_id: int) -> dict[str, int]:
    """Rows per status (for the registration's summary)."""
    rows = session.execute(
        select(UploadItem.status, func.count())
        .where(UploadItem.registration_id == reg_id)
        .group_by(UploadItem.status)
    ).all()
    return {str(status): int(count) for status, count in rows}


def release(session: Session, item: UploadItem) -> None:
    """A user's "send again" of a row waiting for correction (after fixing the cause)."""
    item.status = ItemStatus.PENDING
    item.reason = None


def lock_key(schema: str, reg_id: int) -> int:
    """An advisory lock key per tenant schema and registration (one sender at a time)."""
    digest = 0
    for ch in f"upload:{schema}:{reg_id}":
        digest = (digest * 131 + ord(ch)) % (2**62)
    return digest
