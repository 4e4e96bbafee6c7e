"""The SQL pull driver against a real PostgreSQL (and SQLite), configured from YAML.

Each test module run creates its own database (a unique name) on the local
server and drops it at the end, because the server outlives the run.
"""

from __future__ import annotations

import base64
import contextlib
import socket
import sqlite3
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from ems_edge.config import parse_config
from ems_edge.drivers.sql import SQL
from ems_edge.errors import ConfigError
from ems_edge.model import BusSpec, Fault, FaultKind, PointResult

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SIGNING_KEY = base64.b64encode(bytes(range(32))).decode()

LATEST = "SELECT tag, value FROM latest"


def agent_yaml(bus: str) -> str:
    """A whole agent configuration around one bus (given as YAML at column 0)."""
    head = f"""\
        gateway:
          id: gw-sql-test
          signing_key: {SIGNING_KEY}
        data_centres:
          - name: dc1
            host: 127.0.0.1
            key: gTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q=
        buses:
        """
    return textwrap.dedent(head) + textwrap.indent(textwrap.dedent(bus), "  ")


def sql_bus(url: str, query: str, tags: list[str], extra: str = "") -> str:
    """A SQL bus with one meter reading ``tags`` (points M1.p0, M1.p1...) through ``query``."""
    points = "".join(
        f"""
              - id: M1.p{i}
                energy_type: electricity
                kind: instantaneous
                unit: kW
                tag: "{tag}"
        """
        for i, tag in enumerate(tags)
    )
    return f"""\
        - name: scada
          kind: sql
          url: "{url}"
          timeout: 1s
          retries: 0
          inter_frame_delay: 0
        {extra}
          meters:
            - id: M1
              query: "{query}"
              points:{points}"""


def load_bus(text: str) -> BusSpec:
    """The first bus of a configuration."""
    return parse_config(agent_yaml(text)).buses[0]


def poll(bus: BusSpec) -> list[PointResult]:
    """Open the bus, poll its first meter once, close it."""
    driver = SQL.open(bus)
    try:
        meter = bus.meters[0]
        return driver.poll(meter, meter.points)
    finally:
        driver.close()


def free_port() -> int:
    """A TCP port nothing listens on (the OS picks it, then it is released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A private PostgreSQL database with a table of the latest values, dropped at the end."""
    name = f"edge_sql_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}", autocommit=True) as db:
        db.execute("CREATE TABLE latest (tag text PRIMARY KEY, value text)")
        db.execute(
            "INSERT INTO latest VALUES ('M1.Energy', '1234.5'), ('M1.Power', '12'),"
            " ('M1.Null', NULL), ('M1.Text', 'abc'), ('M1.NaN', 'NaN')"
        )
        db.execute("CREATE TABLE history (tag char(12), value numeric, ts timestamptz)")
        db.execute(
            "INSERT INTO history VALUES ('M2.Energy', 10.5, '2026-01-01T00:00Z'),"
            " ('M2.Energy', 11.25, '2026-01-01T00:15Z'), ('M2.Water', 7, '2026-01-01T00:15Z')"
        )
        db.execute("CREATE SEQUENCE counter")
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')


def values(results: list[PointResult]) -> list[float | Fault | None]:
    """Each result's value, or its fault."""
    return [r.value if r.fault is None else r.fault for r in results]


def test_reads_numeric_text_with_multiplier(pg_url: str) -> None:
    text = sql_bus(pg_url, LATEST, ["M1.Energy", "M1.Power"]).replace(
        'tag: "M1.Power"', 'tag: "M1.Power"\n                multiplier: 0.5'
    )
    assert values(poll(load_bus(text))) == [1234.5, 6.0]


def test_first_row_of_a_tag_wins_so_order_by_gives_the_latest(pg_url: str) -> None:
    query = "SELECT tag, value, ts FROM history ORDER BY ts DESC"
    bus = load_bus(sql_bus(pg_url, query, ["M2.Energy", "M2.Water"]))
    # char(12) pads the tags with blanks; they still match.
    assert values(poll(bus)) == [11.25, 7.0]


def test_missing_null_and_text_values_are_meter_faults(pg_url: str) -> None:
    bus = load_bus(
        sql_bus(pg_url, LATEST, ["M1.Energy", "M1.Gone", "M1.Null", "M1.Text", "M1.NaN"])
    )
    assert values(poll(bus)) == [
        1234.5,
        Fault(FaultKind.METER, "tag 'M1.Gone' not in the result"),
        Fault(FaultKind.METER, "value of tag 'M1.Null' is NULL"),
        Fault(FaultKind.METER, "value 'abc' of tag 'M1.Text' is not a number"),
        Fault(FaultKind.METER, "value 'NaN' of tag 'M1.NaN' is not a finite number"),
    ]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("SELECT tag, value FROM no_such_table", 'query failed: relation "no_such_table" does not'),
        ("SELECT tag, value AS reading FROM latest", "the query returns no 'value' column"),
        ("SELECT value AS tag, tag AS value FROM latest", "tag 'M1.Energy' not in the result"),
    ],
)
def test_query_trouble_is_a_meter_fault(pg_url: str, query: str, reason: str) -> None:
    (result,) = poll(load_bus(sql_bus(pg_url, query, ["M1.Energy"])))
    assert result.fault is not None and result.fault.kind is FaultKind.METER
    assert result.fault.reason.startswith(reason)


def test_session_is_read_only_even_for_a_writing_function(pg_url: str) -> None:
    query = "SELECT 'n' AS tag, nextval('counter') AS value"
    (result,) = poll(load_bus(sql_bus(pg_url, query, ["n"])))
    assert result.fault is not None and result.fault.kind is FaultKind.METER
    assert "read-only transaction" in result.fault.reason
    with psycopg.connect(pg_url.replace("+psycopg", "")) as db:
        row = db.execute("SELECT last_value, is_called FROM counter").fetchone()
    assert row == (1, False)  # the sequence never moved


def test_bus_timeout_is_the_statement_timeout(pg_url: str) -> None:
    query = "SELECT 'slow' AS tag, 1 AS value FROM pg_sleep(5)"
    bus = load_bus(sql_bus(pg_url, query, ["slow"]).replace("timeout: 1s", "timeout: 300ms"))
    started = time.monotonic()
    (result,) = poll(bus)
    assert time.monotonic() - started < 3
    assert result.fault is not None and result.fault.kind is FaultKind.COMMUNICATION
    assert "statement timeout" in result.fault.reason


def test_unreachable_database_is_a_communication_fault_without_the_password() -> None:
    url = f"postgresql+psycopg://reader:pw-Secret9@127.0.0.1:{free_port()}/scada"
    bus = load_bus(
        sql_bus(url, LATEST, ["M1.Energy", "M1.Power"]).replace("retries: 0", "retries: 2")
    )
    results = poll(bus)
    assert [r.fault.kind if r.fault else None for r in results] == [FaultKind.COMMUNICATION] * 2
    reason = results[0].fault.reason if results[0].fault else ""
    assert reason.startswith("cannot read the database: ") and "refused" in reason
    assert "pw-Secret9" not in reason
    assert SQL.endpoint is not None
    endpoint = SQL.endpoint(bus.options)
    assert endpoint == f"sql:postgresql+psycopg://reader@127.0.0.1:{url.split(':')[3]}"
    assert "pw-Secret9" not in repr(bus.options)


def test_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "bms.db"
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE points (name TEXT, reading REAL)")
        db.execute("INSERT INTO points VALUES ('chiller', 42.5)")
    query = "SELECT name AS tag, reading AS value FROM points"
    assert values(poll(load_bus(sql_bus(f"sqlite:///{path}", query, ["chiller"])))) == [42.5]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (LATEST, "DELETE FROM latest", r"meters\[0\]\.query: must start with SELECT or WITH"),
        (LATEST, "SELECT tag, value FROM latest;", r"meters\[0\]\.query: must be a single"),
        (LATEST, "SELECT * INTO copy FROM latest", r"meters\[0\]\.query: must only read.*'INTO'"),
        (
            LATEST,
            "WITH gone AS (DELETE FROM latest RETURNING *) SELECT tag, value FROM gone",
            r"meters\[0\]\.query: must only read, but contains 'DELETE'",
        ),
        (LATEST, "SELECT tag, value FROM latest WHERE tag = :tag", r"query: must not take param"),
        ("postgresql+psycopg://", "not a url", r"line 11: buses\[0\]\.url: not a database URL"),
        ("postgresql+psycopg://", "nosuchdb://", r"buses\[0\]\.url: not a database URL"),
        ("postgresql+psycopg://", "mysql+pymysql://", r"buses\[0\]\.url: no database driver"),
        ('tag: "M1.Energy"', "multiplier: 2", r"buses\[0\]\.meters\[0\]\.points\[0\]: 'tag' is"),
        ("timeout: 1s", "connect_timeout: 0.1s", r"buses\[0\]\.connect_timeout: 0\.1 s is below"),
        ("timeout: 1s", "tagz: x", r"buses\[0\]\.tagz: unknown key"),
    ],
)
def test_config_refusals_name_the_field(old: str, new: str, message: str) -> None:
    text = sql_bus("postgresql+psycopg://postgres@127.0.0.1/x", LATEST, ["M1.Energy"])
    assert old in text
    with pytest.raises(ConfigError, match=message):
        load_bus(text.replace(old, new, 1))


def test_same_tag_of_the_same_query_twice_is_refused() -> None:
    text = sql_bus("postgresql+psycopg://postgres@127.0.0.1/x", LATEST, ["M1.Energy", "M1.Energy"])
    with pytest.raises(ConfigError, match=r"points\[1\]\.tag: tag 'M1.Energy' of this query is"):
        load_bus(text)


def test_meters_share_a_bus_but_two_buses_cannot_share_a_database() -> None:
    bus = """\
        - name: scada
          kind: sql
          url: postgresql+psycopg://reader:pw@127.0.0.1/x
          meters:
            - id: M1
              query: SELECT tag, value FROM latest
              points:
                - {id: M1.p0, energy_type: electricity, kind: cumulative, unit: kWh, tag: T}
            - id: M2
              query: SELECT tag, value FROM history
              points:
                - {id: M2.p0, energy_type: water, kind: cumulative, unit: m3, tag: T}
        """
    assert [m.id for m in load_bus(bus).meters] == ["M1", "M2"]
    second = """\
        - name: scada2
          kind: sql
          url: postgresql+psycopg://reader:other@127.0.0.1/x
          meters:
            - id: N1
              query: SELECT tag, value FROM latest
              points:
                - {id: N1.p0, energy_type: electricity, kind: cumulative, unit: kWh, tag: T}
        """
    with pytest.raises(ConfigError, match=r"duplicate bus line .*'sql:postgresql"):
        parse_config(agent_yaml(bus.rstrip() + "\n" + second))
