"""The one-machine run's provincial upload set-up (`ems demo upload`) against the simulator."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from ems.cli import main
from ems.demo import DEMO_CODES, DEMO_PIN
from ems.upload.models import UploadCode, UploadRegistration, UploadRequest
from ems_provsim.server import Simulator
from ems_tenants.models import Tenant
from tests.ingest import conftest as ingest_fixtures

make_plant = ingest_fixtures.make_plant


@pytest.fixture
def demo_tenant(database: Any, make_plant: Any) -> Tenant:
    """A fresh tenant stands in for demo-steel (whose credit code the test world uses)."""
    plant = make_plant()
    with database.session() as s:
        tenant = s.get(Tenant, plant.tenant_id)
    assert tenant is not None
    return tenant


def test_demo_upload_registers_and_maps_codes_and_repeats_safely(
    database: Any, demo_tenant: Tenant
) -> None:
    sim = Simulator("yunnan").start()
    try:
        sim.provision(
            enterprise_code=demo_tenant.credit_code, region=demo_tenant.region_code, pin=DEMO_PIN
        )
        for _ in range(2):  # run.sh runs it on every start
            result = CliRunner().invoke(
                main,
                ["demo", "upload", "--url", sim.base_url, "--tenant", demo_tenant.slug],
                catch_exceptions=False,
            )
            assert result.exit_code == 0, result.output
            assert "registered on the simulated Yunnan-style platform" in result.output
        with database.session(demo_tenant.schema_name) as s:
            reg = s.scalar(select(UploadRegistration))
            assert reg is not None
            assert reg.status == "registered" and reg.dic_version is not None
            assert reg.pin is not None and DEMO_PIN.encode() not in reg.pin  # sealed
            codes = sorted(s.scalars(select(UploadCode.code)))
            assert codes == sorted(c[0] for c in DEMO_CODES)
            endpoints = set(s.scalars(select(UploadRequest.endpoint)))
        assert {"register", "version", "dictionary", "access_key"} <= endpoints
        assert sim.account(demo_tenant.credit_code) is not None
    finally:
        sim.stop()


def test_demo_upload_says_when_the_platform_refuses(database: Any, demo_tenant: Tenant) -> None:
    sim = Simulator("yunnan").start()  # the enterprise is not provisioned: 企业未开户
    try:
        result = CliRunner().invoke(
            main,
            ["demo", "upload", "--url", sim.base_url, "--tenant", demo_tenant.slug],
            catch_exceptions=False,
        )
        assert result.exit_code == 0
        assert "registration refused" in result.output
    finally:
        sim.stop()
