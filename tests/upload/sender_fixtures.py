"""Shared set-up of the sender tests: a plant with a day of readings, a simulated
platform per profile, and a registration that is registered with mapped codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import select

from ems.upload import registration, service
from ems.upload.models import UploadCode, UploadRegistration
from ems_provsim.server import Simulator, TlsFiles
from ems_provsim.testing import make_pki
from tests.ingest.conftest import Plant
from tests.telemetry.test_rollups import roll, write

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 10)
PIN = "204816"
# Whole plant (00-00-0000), secondary energy (02), electricity (1200), consumption (02).
ELECTRICITY = "0000000002120002"


def local(day: date, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ).astimezone(UTC)


def increments(days: int = 1) -> list[Decimal]:
    """kWh per quarter hour: 10, 10.5, 11, 11.5, repeating."""
    return [Decimal(10) + Decimal(i % 4) * Decimal("0.5") for i in range(96 * days)]


def write_days(
    connect: Callable[[], psycopg.Connection],
    database: Any,
    plant: Plant,
    days: int = 1,
    *,
    last: bool = True,
) -> list[Decimal]:
    """Counter readings of M1.energy every 15 minutes over ``days`` from DAY, rolled up.

    ``last=False`` leaves out the final reading (it arrives late in a test).
    """
    steps = increments(days)
    counter = Decimal(1000)
    readings = [(local(DAY), float(counter))]
    for i, step in enumerate(steps):
        counter += step
        readings.append((local(DAY) + timedelta(minutes=15 * (i + 1)), float(counter)))
    write(connect, plant.schema, plant.points["M1.energy"], readings if last else readings[:-1])
    roll(database, plant.schema, "Asia/Shanghai")
    return steps


def q2(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass
class Platform:
    sim: Simulator
    pki_p12: bytes | None = None
    pki_password: str | None = None
    ca_pem: str | None = None


def start_platform(profile: str, tmp: Path, enterprise: str, region: str) -> Platform:
    """A simulated platform of ``profile`` (with PKI for mTLS, the enterprise provisioned)."""
    if profile == "anhui":
        pki = make_pki(tmp, client_name=enterprise)
        sim = Simulator(
            profile,
            host="localhost",
            tls=TlsFiles(pki.server_cert, pki.server_key, pki.ca_cert),
        ).start()
        platform = Platform(
            sim,
            pki.client_p12.read_bytes(),
            pki.p12_password,
            pki.ca_cert.read_text(encoding="ascii"),
        )
    else:
        platform = Platform(Simulator(profile).start())
    platform.sim.provision(enterprise_code=enterprise, region=region, pin=PIN)
    return platform


def registered(
    database: Any,
    secret: str,
    plant: Plant,
    platform: Platform,
    now: datetime,
    *,
    timeout: float = 2.0,
    realtime: bool = True,
) -> int:
    """A registration of the plant on ``platform``: registered, dictionaries in, one code."""
    from ems.upload import crypto
    from ems_tenants.models import Tenant

    with database.session() as control:
        tenant = control.get(Tenant, plant.tenant_id)
        enterprise, region = tenant.credit_code, tenant.region_code
    factory = registration.client_factory(secret, timeout=timeout, clock=lambda: now)
    with database.transaction(plant.schema) as session:
        reg = UploadRegistration(
            profile=platform.sim.profile.code,
            base_url=platform.sim.base_url,
            enterprise_code=enterprise,
            region_code=region,
            enabled=True,
            realtime_minutes=15,
            status="new",
            urls={},
            consecutive_failures=0,
            pin=crypto.seal(secret, PIN.encode()),
            client_p12=crypto.seal(secret, platform.pki_p12) if platform.pki_p12 else None,
            client_p12_password=(
                crypto.seal(secret, platform.pki_password.encode())
                if platform.pki_password
                else None
            ),
            server_ca_pem=platform.ca_pem,
        )
        session.add(reg)
        session.flush()
        with factory(reg) as client:
            answer = registration.register(session, reg, client, secret)
            assert answer.ok, answer.message
        with factory(reg) as client:
            registration.check_version(session, reg, client, secret)
        assert reg.dic_version is not None
        session.add(
            UploadCode(
                registration_id=reg.id,
                code=ELECTRICITY,
                name="全厂电力消费量",
                scope=1,
                source="category",
                energy_type="electricity",
                input_type=2,
                realtime=realtime,
                day=True,
                month=False,
                year=False,
                enabled=True,
            )
        )
        session.flush()
        return reg.id


def run_cycle(
    database: Any, secret: str, plant: Plant, now: datetime, *, timeout: float = 2.0, **kw: Any
) -> list[service.CycleReport]:
    factory = registration.client_factory(secret, timeout=timeout, clock=lambda: now)
    return service.cycle(database, plant.tenant_id, secret, now, factory=factory, **kw)


def registration_row(database: Any, plant: Plant, reg_id: int) -> UploadRegistration:
    with database.session(plant.schema) as session:
        reg = session.get(UploadRegistration, reg_id)
        assert reg is not None
        return reg


def code_ids(database: Any, plant: Plant) -> Iterator[int]:
    with database.session(plant.schema) as session:
        yield from session.scalars(select(UploadCode.id))
