"""Fixtures of the ingest tests: a tenant with a registered gateway and points, and an
:class:`~ems.ingest.core.Ingestor` on the real test database."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from psycopg import sql

from tests.conftest import credit


@dataclass
class Plant:
    """A provisioned tenant with one registered gateway and its points."""

    slug: str
    schema: str
    tenant_id: int
    gateway: str
    key: Ed25519PrivateKey  # the gateway's signing key
    password: str  # its broker password
    points: dict[str, int] = field(default_factory=dict)  # code -> point id


POINTS = (
    # code, kind, unit, min, max
    ("M1.energy", "cumulative", "kWh", None, None),
    ("M1.power", "instantaneous", "kW", None, None),
    ("M2.flow", "instantaneous", "m3/h", 0.0, 500.0),
)


def _private(raw_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(raw_b64))


@pytest.fixture
def make_plant(database: Any, settings: Any) -> Callable[..., Plant]:
    """``make_plant()``: a new tenant (unique slug), a gateway, the three POINTS."""
    from ems.telemetry.models import Point
    from ems_tenants import gateways, services

    def make(points: tuple[tuple[Any, ...], ...] = POINTS, plan: str = "enterprise") -> Plant:
        tag = uuid.uuid4().hex[:8]
        with database.transaction() as session:
            tenant = services.create_tenant(
                session,
                services.TenantDraft(
                    slug=f"plant-{tag}",
                    name=f"工厂 {tag}",
                    credit_code=credit(f"91530100{int(tag, 16) % 10**9:09d}"),
                    region_code="440300",  # outside the Yunnan regulator's region
                    industry_code="C3110",
                    plan=plan,
                ),
            )
            services.provision(session, database.engine, settings.migrations_dir, tenant)
            issued = gateways.register(session, tenant, {"name": "gw1"})
            assert issued.signing_key is not None
            plant = Plant(
                tenant.slug,
                tenant.schema_name,
                tenant.id,
                issued.gateway.id,
                _private(issued.signing_key),
                issued.password,
            )
        with database.transaction(plant.schema) as session:
            for code, kind, unit, low, high in points:
                point = Point(
                    gateway_id=plant.gateway,
                    code=code,
                    name=code,
                    energy_type="electricity" if code.startswith("M1") else "water",
                    kind=kind,
                    unit=unit,
                    min_value=low,
                    max_value=high,
                )
                session.add(point)
                session.flush()
                plant.points[code] = point.id
        return plant

    return make


@pytest.fixture
def connect(settings: Any) -> Callable[[], psycopg.Connection]:
    from ems.ingest.service import connector

    connector_fn: Callable[[], psycopg.Connection] = connector(settings.database_url)
    return connector_fn


@pytest.fixture
def dc_key(database: Any, settings: Any) -> Ed25519PrivateKey:
    """This data centre's signing key (created on first use)."""
    from ems_tenants import gateways

    with database.transaction() as session:
        row = gateways.data_centre(session, settings.dc_name, settings.secret_key)
        return gateways.data_centre_key(row, settings.secret_key)


@pytest.fixture
def ingestor(
    connect: Callable[[], psycopg.Connection], dc_key: Ed25519PrivateKey, settings: Any
) -> Iterator[Any]:
    from ems.ingest.core import Ingestor
    from ems.ingest.registry import Registry

    ing = Ingestor(Registry(connect), settings.dc_name, dc_key, connect)
    yield ing
    ing.close()


def count_readings(connect: Callable[[], psycopg.Connection], schema: str) -> dict[int, int]:
    """Stored readings per point id."""
    with connect() as conn:
        rows = conn.execute(
            sql.SQL("SELECT point, count(*) FROM {}.readings GROUP BY point").format(
                sql.Identifier(schema)
            )
        ).fetchall()
    return dict(rows)


def quarantine(connect: Callable[[], psycopg.Connection], schema: str) -> list[dict[str, Any]]:
    """The tenant's quarantine, oldest first."""
    with connect() as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        cur.execute(
            sql.SQL("SELECT * FROM {}.quarantine ORDER BY id").format(sql.Identifier(schema))
        )
        return list(cur.fetchall())
