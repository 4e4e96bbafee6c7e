"""Pulling readings from another system's database (construction code 4.3.5(2)).

Where a plant already runs a SCADA, a building-management system or a
metering vendor's software, the gateway reads that system's database instead
of the meters. The gateway must never change the other system, so it only
runs one read-only ``SELECT`` per meter per poll.

Configuration (bus kind ``sql``)::

    buses:
      - name: scada
        kind: sql
        url: postgresql+psycopg://reader:secret@10.0.0.5/scada   # any SQLAlchemy URL
        connect_timeout: 5s                                      # optional
        timeout: 2s            # generic bus key: the statement timeout
        meters:
          - id: M1
            query: >-
              SELECT tag, value, ts FROM latest_values
              WHERE tag LIKE 'M1.%' ORDER BY ts DESC
            points:
              - {id: M1.kwh, tag: M1.Energy, multiplier: 0.1, ...}

A meter's ``query`` is one ``SELECT`` (or ``WITH ... SELECT``) without
parameters that returns rows with a ``tag`` and a ``value`` column (use
``AS tag``/``AS value``); other columns are ignored. Each point picks its row
by ``tag``; when a tag appears on several rows the first one wins, so
``ORDER BY ts DESC`` yields the latest value. The value may be a number or a
numeric string; NULL or text is a meter fault naming the tag.

Safety: a query with ``;``, a data-changing keyword (``INSERT``, ``UPDATE``,
``INTO``...) or a bound parameter is refused at load, and the transaction is
always rolled back. On PostgreSQL (psycopg, psycopg2) the session is also
read-only (``default_transaction_read_only``). The bus timeout becomes the
statement timeout where the driver supports one (PostgreSQL, MySQL/MariaDB
through pymysql or mysqlclient, SQLite's lock wait); elsewhere only the
connection attempt is bounded.

A meter here has no address of its own: its identity is its place in the
file, and the same (query, tag) read by two points of one bus is refused.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from ems_edge.configfile import Section
from ems_edge.drivers.base import Driver, DriverKind
from ems_edge.model import BusSpec, Fault, FaultKind, MeterSpec, PointResult, PointSpec

#: Words that change data or take locks inside a SELECT (a PostgreSQL data-changing WITH,
#: SELECT ... INTO, FOR UPDATE) or that only DDL uses; refused anywhere in a query.
_WRITING = re.compile(
    r"\b(insert|update|delete|merge|truncate|drop|alter|create|grant|revoke|into|copy|lock)\b",
    re.IGNORECASE,
)
_STARTS_AS_READ = re.compile(r"\s*(select|with)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class SqlBus:
    """A database URL (password kept, never shown) and the connection time limit."""

    url: URL
    connect_timeout: float
    #: (query, tag) -> where it was first configured; fills while the file is read.
    claimed: dict[tuple[str, str], str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def shown(self) -> str:
        """The URL as it may be logged: without the password."""
        return safe_url(self.url)


@dataclass(frozen=True, slots=True)
class SqlMeter:
    """A meter's query and its place in the file (its identity on the bus)."""

    query: str
    place: str


@dataclass(frozen=True, slots=True)
class SqlPoint:
    """Which row of the meter's result a point reads, and the factor applied to its value."""

    tag: str
    multiplier: float = 1.0


def safe_url(url: URL) -> str:
    """``url`` without its password, in the URL itself or in its query string."""
    bare = url._replace(password=None).difference_update_query(["password"])
    return bare.render_as_string(hide_password=False)


def check_query(query: str) -> str | None:
    """Why ``query`` is not a single read-only SELECT, or None if it is one."""
    if ";" in query:
        return "must be a single statement without ';'"
    if not _STARTS_AS_READ.match(query):
        return "must start with SELECT or WITH: the gateway never writes to the other system"
    word = _WRITING.search(query)
    if word:
        return f"must only read, but contains {word[1].upper()!r}"
    if sa.text(query).compile().params:
        return "must not take parameters: return (tag, value) rows for the whole meter"
    return None


def _parse_bus(section: Section) -> SqlBus:
    place = section.where("url")
    try:
        url = sa.make_url(section.string("url"))
        dialect = url.get_dialect()
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise place.error(
            f"not a database URL such as postgresql+psycopg://user@host/db ({exc})"
        ) from exc
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise place.error(f"no database driver for {url.drivername}: {exc}") from exc
    connect_timeout = section.duration("connect_timeout", 5.0, low=1, high=60)
    return SqlBus(url, connect_timeout)


def _parse_meter(section: Section, bus: SqlBus) -> SqlMeter:
    del bus
    query = section.string("query").strip()
    problem = check_query(query)
    if problem is not None:
        raise section.where("query").error(problem)
    return SqlMeter(query, section.place.path)


def _parse_point(section: Section, bus: SqlBus, meter: SqlMeter) -> SqlPoint:
    point = SqlPoint(section.string("tag").strip(), section.number("multiplier", 1.0))
    place = section.where("tag")
    # Whitespace differences do not make two queries different sources.
    key = (" ".join(meter.query.split()), point.tag)
    if key in bus.claimed:
        raise place.error(f"tag {point.tag!r} of this query is already read at {bus.claimed[key]}")
    bus.claimed[key] = f"{place.path} (line {place.line})"
    return point


def _meter_address(meter: SqlMeter) -> str:
    return meter.place


def _endpoint(bus: SqlBus) -> str:
    return "sql:" + bus.shown


def _connect_args(bus: SqlBus, statement_timeout: float) -> dict[str, Any]:
    """The DBAPI's own names for a connect timeout, a statement timeout and a read-only session."""
    seconds = max(1, math.ceil(statement_timeout))
    driver = bus.url.get_driver_name()
    if driver in ("psycopg", "psycopg2"):
        milliseconds = round(statement_timeout * 1000)
        options = f"-c statement_timeout={milliseconds} -c default_transaction_read_only=on"
        # libpq rounds a connect timeout below 2 s up to 2 s.
        return {"connect_timeout": max(2, math.ceil(bus.connect_timeout)), "options": options}
    if driver in ("pymysql", "mysqldb"):
        return {"connect_timeout": math.ceil(bus.connect_timeout), "read_timeout": seconds}
    if driver == "pysqlite":
        return {"timeout": statement_timeout}
    return {}


def _number(tag: str, raw: object) -> float | str:
    """``raw`` as a finite float, or the reason it is not one."""
    if raw is None:
        return f"value of tag {tag!r} is NULL"
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal | str):
        return f"value {raw!r} of tag {tag!r} is not a number"
    try:
        value = float(raw)
    except ValueError:
        return f"value {raw!r} of tag {tag!r} is not a number"
    if not math.isfinite(value):
        return f"value {raw!r} of tag {tag!r} is not a finite number"
    return value


class SqlDriver(Driver):
    """Runs each meter's query on one pooled connection and picks the points' rows."""

    def __init__(self, bus: BusSpec) -> None:
        super().__init__(bus)
        options: SqlBus = bus.options
        self.options = options
        pool: dict[str, Any] = {}
        if options.url.get_backend_name() != "sqlite":
            # One connection is enough: the poller reads one meter of a bus at a time.
            # (SQLite's own pool takes no size.)
            pool = {"pool_size": 1, "max_overflow": 0, "pool_timeout": options.connect_timeout}
        self.engine = sa.create_engine(
            options.url,
            pool_pre_ping=True,
            connect_args=_connect_args(options, bus.timeout),
            **pool,
        )

    def poll(self, meter: MeterSpec, points: Sequence[PointSpec]) -> list[PointResult]:
        """One query for the meter; a point's row missing or unusable is a meter fault."""
        query: SqlMeter = meter.options
        wanted = {point.source.tag for point in points}
        rows = self._exchange(query.query, wanted)
        for _retry in range(self.bus.retries):
            if not (isinstance(rows, Fault) and rows.kind is FaultKind.COMMUNICATION):
                break
            rows = self._exchange(query.query, wanted)
        if isinstance(rows, Fault):
            return [PointResult(point, None, rows) for point in points]
        return [self._result(point, rows) for point in points]

    def _result(self, point: PointSpec, rows: dict[str, object]) -> PointResult:
        source: SqlPoint = point.source
        if source.tag not in rows:
            fault = Fault(FaultKind.METER, f"tag {source.tag!r} not in the result")
            return PointResult(point, None, fault)
        value = _number(source.tag, rows[source.tag])
        if isinstance(value, str):
            return PointResult(point, None, Fault(FaultKind.METER, value))
        return PointResult(point, value * source.multiplier)

    def _exchange(self, query: str, wanted: set[str]) -> dict[str, object] | Fault:
        """The first value of each wanted tag, or the fault that kept the query from answering."""
        self._pace()
        try:
            with self.engine.connect() as connection:
                result = connection.execute(sa.text(query))
                return self._collect(result, wanted)
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
            return Fault(FaultKind.COMMUNICATION, f"cannot read the database: {self._words(exc)}")
        except sa.exc.SQLAlchemyError as exc:
            return Fault(FaultKind.METER, f"query failed: {self._words(exc)}")
        finally:
            # The connection goes back to the pool rolled back: nothing is ever committed.
            self._last_exchange = time.monotonic()

    @staticmethod
    def _collect(result: sa.CursorResult[Any], wanted: set[str]) -> dict[str, object] | Fault:
        names = result.keys()
        columns = [name.lower() for name in names]
        for column in ("tag", "value"):
            if column not in columns:
                result.close()
                return Fault(FaultKind.METER, f"the query returns no {column!r} column")
        tag_at, value_at = columns.index("tag"), columns.index("value")
        rows: dict[str, object] = {}
        for row in result:
            tag = str(row[tag_at]).strip()  # CHAR(n) columns come padded
            if tag in wanted and tag not in rows:
                rows[tag] = row[value_at]
                if len(rows) == len(wanted):
                    break
        result.close()
        return rows

    def _words(self, exc: sa.exc.SQLAlchemyError) -> str:
        """The first line of the database's own message, the password blanked out."""
        origin = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
        text = (str(origin).strip().splitlines() or [type(origin).__name__])[0]
        password = self.options.url.password
        return text.replace(password, "***") if password else text

    def close(self) -> None:
        """Close the pooled connection."""
        self.engine.dispose()


SQL = DriverKind(
    name="sql",
    parse_bus=_parse_bus,
    parse_meter=_parse_meter,
    parse_point=_parse_point,
    meter_address=_meter_address,
    open=SqlDriver,
    exclusive=False,
    endpoint=_endpoint,
)
