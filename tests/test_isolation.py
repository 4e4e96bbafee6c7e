"""Two tenants with colliding primary keys: nothing crosses.

The routes are enumerated from the app's URL map, not listed by hand: a new
tenant route is covered the moment it exists, and fails here until the table
below knows how to name one of beta's objects in it.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest

TENANT_PREFIX = "/api/v1/tenants/<slug>"

# For each path parameter: how to name an object that exists in beta only.
BETA_ONLY_IDS = {
    "site_id": lambda ctx: ctx["beta_site_2"],
    "membership_id": lambda ctx: ctx["beta_membership"],
    "client_id": lambda ctx: ctx["beta_client"],
    "gateway_id": lambda ctx: ctx["beta_gateway"],
    "point_id": lambda ctx: ctx["beta_point_only"],
    "command_id": lambda ctx: ctx["beta_command"],
    "unit_id": lambda ctx: ctx["beta_unit_only"],
    "override_id": lambda ctx: ctx["beta_override_only"],
    "person_id": lambda ctx: ctx["beta_person_only"],
    "document_id": lambda ctx: ctx["beta_document_only"],
    "equipment_id": lambda ctx: ctx["beta_equipment_only"],
    "period_id": lambda ctx: ctx["beta_period_only"],
    "shift_id": lambda ctx: ctx["beta_shift_only"],
    "quantity_id": lambda ctx: ctx["beta_quantity_only"],
    "product_id": lambda ctx: ctx["beta_product_only"],
    "output_id": lambda ctx: ctx["beta_output_only"],
    "value_id": lambda ctx: ctx["beta_value_only"],
    "node_id": lambda ctx: ctx["beta_node_only"],
    "flow_id": lambda ctx: ctx["beta_flow_only"],
    "meter_id": lambda ctx: ctx["beta_meter_only"],
    "reminder_id": lambda ctx: ctx["beta_reminder_only"],
    "registration_id": lambda ctx: ctx["beta_registration_only"],
    "code_id": lambda ctx: ctx["beta_code_only"],
    "item_id": lambda ctx: ctx["beta_item_only"],
    "job_id": lambda ctx: ctx["beta_job_only"],
}

BETA_COMMAND = "00000000-0000-4000-8000-0000000000be"
POINT = {"energy_type": "electricity", "kind": "instantaneous", "unit": "kW"}
UNIT = {"site_id": 1, "name": "x", "kind": "workshop", "role": "main_production"}
ENERGY_OVERRIDE = {
    "energy_type": "oxygen",
    "value": "0.5",
    "unit": "kgce/m3",
    "valid_from": "2040-01-01",
    "reason": "cross-tenant",
}

ACTUALS_PERIOD = {"period_from": "2040-01-01", "period_to": "2040-02-01"}
ACTUALS_QUANTITY = {
    **ACTUALS_PERIOD,
    "energy_type": "diesel",
    "unit": "t",
    "quantity": "1",
    "reason": "x",
}

METER = {"name": "x", "level": 1, "management_number": "X-ISO"}
METER_STATE = {"state": "faulty", "since": "2026-01-01"}

EQUIPMENT = {"name": "x", "number": "X-ISO", "class_code": "other"}
LINE = {"label": "x", "quantity": "1", "unit": "kWh"}
# A valid body per (endpoint, method), so that the lookup (not validation) decides.
BODIES: dict[tuple[str, str], Any] = {
    ("meters.Meters", "POST"): METER,
    ("meters.MeterById", "PUT"): METER,
    ("meters.States", "POST"): METER_STATE,
    ("meters.Verifications", "POST"): {"performed_on": "2026-01-01", "result": "pass"},
    ("meters.MeterPoints", "POST"): {"point_id": 1},
    ("meters.Replacements", "POST"): {"at": "2026-01-01T00:00:00Z", "points": []},
    ("reminders.Settings", "PUT"): {"settings": [{"kind": "calibration_due", "lead_days": 5}]},
    ("sites.Sites", "POST"): {"code": "X1", "name": "cross-tenant"},
    ("sites.SiteById", "PUT"): {"code": "X2", "name": "cross-tenant"},
    ("org.Units", "POST"): {**UNIT, "code": "X1"},
    ("org.UnitById", "PUT"): {**UNIT, "code": "X2"},
    ("tenant.Members", "POST"): {"email": "vera@example.com", "role": "viewer"},
    ("tenant.MemberById", "PUT"): {"role": "viewer"},
    ("tenant.Clients", "POST"): {"name": "cross", "scopes": ["tenant:read"]},
    ("gateways.Gateways", "POST"): {"name": "cross"},
    ("gateways.rotate", "POST"): {},
    ("gateways.Commands", "POST"): {"name": "report_status"},
    ("reconciliation.Reconciliations", "POST"): {"day": "2026-11-19"},
    ("energy.Overrides", "POST"): ENERGY_OVERRIDE,
    ("energy.OverrideById", "PUT"): ENERGY_OVERRIDE,
    ("energy.Settings", "PUT"): {"electricity_basis": "equal_value"},
    ("personnel.People", "POST"): {"name": "x"},
    ("personnel.PersonById", "PUT"): {"name": "x"},
    ("equipment.EquipmentList", "POST"): EQUIPMENT,
    ("equipment.EquipmentById", "PUT"): EQUIPMENT,
    ("equipment.Monitoring", "PUT"): {"bindings": []},
    ("equipment.Inspections", "POST"): {"inspected_at": "2026-01-01T00:00:00Z", "state": "running"},
    ("equipment.EfficiencyTerms", "PUT"): {"terms": []},
    ("equipment.Efficiency", "POST"): {
        "from": "2040-01-01",
        "to": "2040-02-01",
        "inputs": [LINE],
        "outputs": [LINE],
    },
    ("equipment.compute_efficiency", "POST"): {"from": "2040-01-01", "to": "2040-01-02"},
    ("actuals.ShiftById", "PUT"): {"name": "x", "start": "00:00", "end": "08:00"},
    ("actuals.ManualReadings", "POST"): {"ts": "2026-11-19T00:00:00Z", "value": 1, "reason": "x"},
    ("actuals.ManualQuantityById", "PUT"): ACTUALS_QUANTITY,
    ("actuals.ProductById", "PUT"): {"code": "X2", "name": "x", "unit": "t"},
    ("actuals.OutputById", "PUT"): {**ACTUALS_PERIOD, "product_id": 1, "quantity": "1"},
    ("actuals.ValueById", "PUT"): {**ACTUALS_PERIOD, "kind": "value_added", "amount": "1"},
    ("networks.Nodes", "POST"): {"code": "X1", "name": "x", "kind": "distribution"},
    ("networks.NodeById", "PUT"): {"code": "X2", "name": "x", "kind": "distribution"},
    ("networks.Flows", "POST"): {"energy_type": "electricity", "from_node_id": 1, "to_node_id": 2},
    ("networks.FlowById", "PUT"): {"energy_type": "water", "from_node_id": 1, "to_node_id": 2},
    ("networks.default_build", "POST"): {"energy_types": ["electricity"]},
    ("upload.Registrations", "POST"): {"profile": "national", "base_url": "http://127.0.0.1:9"},
    ("upload.RegistrationById", "PUT"): {"profile": "national", "base_url": "http://127.0.0.1:9"},
    ("upload.submit", "POST"): {"kind": "info"},
    ("upload.manual_upload", "POST"): {},
    ("upload_codes.Codes", "POST"): {
        "code": "0000000002120002",
        "name": "x",
        "source": "category",
        "energy_type": "electricity",
    },
    ("upload_codes.CodeById", "PUT"): {
        "code": "0000000002120002",
        "name": "x",
        "source": "category",
        "energy_type": "electricity",
    },
    ("telemetry.Points", "POST"): {
        "gateway_id": "alpha-works-x",
        "code": "X1",
        "name": "x",
        **POINT,
    },
    ("telemetry.PointById", "PUT"): {
        "gateway_id": "alpha-works-x",
        "code": "X2",
        "name": "x",
        **POINT,
    },
}


def tenant_routes(app: Any) -> list[tuple[str, str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(TENANT_PREFIX):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.rule, rule.endpoint, method))
    return routes


def fill(rule: str, slug: str, ctx: dict[str, Any]) -> str:
    def param(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[-1]
        if name == "slug":
            return slug
        if name not in BETA_ONLY_IDS:
            pytest.fail(f"{rule}: add {name!r} to BETA_ONLY_IDS in {__name__}")
        return str(BETA_ONLY_IDS[name](ctx))

    return re.sub(r"<([^>]+)>", param, rule)


def _client(app: Any, email: str) -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    client.post("/api/v1/auth/login", json={"email": email, "password": "correct-horse-battery"})
    return client, {"X-CSRF-Token": client.get("/api/v1/me").get_json()["csrf_token"]}


def _telemetry_objects(app: Any, world: Any) -> dict[str, Any]:
    """A gateway in each tenant; points whose ids collide on purpose (alpha's newest id
    exists in beta too) plus one id only beta has; a real-time value and a quarantine
    entry in beta."""
    from sqlalchemy import func, select

    from ems.db import utcnow
    from ems.telemetry.models import (
        GatewayCommand,
        GatewayEvent,
        LatestValue,
        Point,
        QuarantineEntry,
        Reconciliation,
    )

    db = app.extensions["ems"].db
    tag = uuid.uuid4().hex[:6]
    made: dict[str, Any] = {}
    for key, user in (("alpha", "alice"), ("beta", "bob")):
        client, headers = _client(app, world.users[user])
        base = f"/api/v1/tenants/{key}-works"
        r = client.post(f"{base}/gateways", json={"name": f"iso{tag}"}, headers=headers)
        assert r.status_code == 201, r.get_json()
        made[key] = (client, headers, base, r.get_json()["id"])

    alice, headers, base, alpha_gateway = made["alpha"]
    body = {"gateway_id": alpha_gateway, "code": "A1", "name": "ALPHA point", **POINT}
    r = alice.post(f"{base}/points", json=body, headers=headers)
    assert r.status_code == 201, r.get_json()
    collide = r.get_json()["id"]
    with db.session(world.tenants["alpha"].schema_name) as s:
        alpha_max = s.scalar(select(func.max(Point.id)))
    assert alpha_max == collide

    bob, headers, base, beta_gateway = made["beta"]
    beta_ids: list[int] = []
    while not beta_ids or beta_ids[-1] <= alpha_max:
        body = {
            "gateway_id": beta_gateway,
            "code": f"B{len(beta_ids)}",
            "name": f"BETA point {len(beta_ids)}",
            **POINT,
        }
        r = bob.post(f"{base}/points", json=body, headers=headers)
        assert r.status_code == 201, r.get_json()
        beta_ids.append(r.get_json()["id"])
    only = beta_ids[-1]
    with db.session(world.tenants["beta"].schema_name) as s:
        twin = s.get(Point, collide)
        assert twin is not None and twin.name.startswith("BETA")  # the collision is real
    with db.session(world.tenants["alpha"].schema_name) as s:
        assert s.get(Point, only) is None  # and this one is beta's alone

    with db.transaction(world.tenants["beta"].schema_name) as s:
        s.add(
            LatestValue(point=collide, ts=utcnow(), value=4242.5, quality=0, received_at=utcnow())
        )
        s.add(
            QuarantineEntry(
                gateway_id=beta_gateway,
                channel="readings",
                layer="business",
                reason="BETA reading above its maximum",
                point_code="B0",
                value=99.5,
            )
        )
        s.add(
            GatewayCommand(
                id=BETA_COMMAND,
                gateway_id=beta_gateway,
                name="report_status",
                args={},
                issued_at=utcnow(),
                expires_at=utcnow(),
                requested_by="bob",
            )
        )
        s.add(
            GatewayEvent(
                gateway_id=beta_gateway,
                at=utcnow(),
                kind="meter_fault",
                reason="BETA meter silent",
                received_at=utcnow(),
            )
        )
        s.add(
            Reconciliation(
                gateway_id=beta_gateway,
                day=utcnow().date() - timedelta(days=1),
                code="B0",
                point_id=only,
                status="difference",
                settled=True,
                agent_count=96,
                agent_gaps=0,
                agent_digest="0" * 16,
                stored_count=90,
                stored_digest="1" * 16,
                duplicates=0,
                quarantined=0,
                lost=6,
                phantom=0,
                mismatched=False,
                expected=96,
                received=90,
                checked_at=utcnow(),
            )
        )
    return {
        "beta_command": BETA_COMMAND,
        "alpha_gateway": alpha_gateway,
        "beta_gateway": beta_gateway,
        "point_collide": collide,
        "beta_point_only": only,
    }


def _energy_objects(app: Any, world: Any) -> dict[str, Any]:
    """Coefficient overrides in beta up to an id alpha does not have."""
    from datetime import date

    from sqlalchemy import func, select

    from ems.energy.models import CoefficientOverride

    db = app.extensions["ems"].db
    with db.session(world.tenants["alpha"].schema_name) as s:
        alpha_max = s.scalar(select(func.max(CoefficientOverride.id))) or 0
    only = 0
    with db.transaction(world.tenants["beta"].schema_name) as s:
        while only <= alpha_max:
            year = 2030 + only
            row = CoefficientOverride(
                energy_type="acetylene",
                basis="equivalent",
                value=8,
                unit="kgce/m3",
                valid_from=date(year, 1, 1),
                valid_to=date(year + 1, 1, 1),
                reason="BETA measured acetylene",
                recorded_by="bob",
            )
            s.add(row)
            s.flush()
            only = row.id
    return {"beta_override_only": only}


def _org_objects(app: Any, world: Any) -> dict[str, Any]:
    """Organisation units in beta up to an id alpha does not have."""
    from sqlalchemy import func, select

    from ems.org.models import Unit

    db = app.extensions["ems"].db
    with db.session(world.tenants["alpha"].schema_name) as s:
        alpha_max = s.scalar(select(func.max(Unit.id))) or 0
    tag = uuid.uuid4().hex[:6]
    only = 0
    with db.transaction(world.tenants["beta"].schema_name) as s:
        while only <= alpha_max:
            row = Unit(
                site_id=world.sites["beta"][0],
                code=f"B{tag}-{only}",
                name=f"BETA 车间 {only}",
                kind="workshop",
                role="main_production",
            )
            s.add(row)
            s.flush()
            only = row.id
    return {"beta_unit_only": only}


def _meter_objects(app: Any, world: Any) -> dict[str, Any]:
    """Meters and reminders in beta up to ids alpha does not have."""
    from datetime import date

    from sqlalchemy import func, select

    from ems.meters.models import Meter
    from ems.reminders.models import Reminder

    db = app.extensions["ems"].db
    made: dict[str, int] = {}
    tag = uuid.uuid4().hex[:6]
    for key, model, new in (
        (
            "meter",
            Meter,
            lambda n: Meter(name=f"BETA 电能表 {n}", level=1, management_number=f"B{tag}-{n}"),
        ),
        (
            "reminder",
            Reminder,
            lambda n: Reminder(
                kind="calibration_due",
                subject_type="meter",
                subject_id=made["meter"],
                title=f"BETA 到期 {tag} {n}",
                due=date(2040, 1, 1) + timedelta(days=n),
            ),
        ),
    ):
        with db.session(world.tenants["alpha"].schema_name) as s:
            alpha_max = s.scalar(select(func.max(model.id))) or 0
        with db.transaction(world.tenants["beta"].schema_name) as s:
            only = 0
            while only <= alpha_max:
                row = new(only)
                s.add(row)
                s.flush()
                only = row.id
        made[key] = only
    return {"beta_meter_only": made["meter"], "beta_reminder_only": made["reminder"]}


def _network_objects(app: Any, world: Any) -> dict[str, Any]:
    """Network nodes and a flow in beta up to ids alpha does not have."""
    from sqlalchemy import func, select

    from ems.networks.models import NetworkFlow, NetworkNode

    db = app.extensions["ems"].db
    with db.session(world.tenants["alpha"].schema_name) as s:
        alpha_nodes = s.scalar(select(func.max(NetworkNode.id))) or 0
        alpha_flows = s.scalar(select(func.max(NetworkFlow.id))) or 0
    tag = uuid.uuid4().hex[:6]
    node = flow = 0
    with db.transaction(world.tenants["beta"].schema_name) as s:
        while node <= alpha_nodes or flow <= alpha_flows:
            pair = [
                NetworkNode(
                    code=f"B{tag}-{node}-{end}",
                    name=f"BETA 节点 {end}",
                    kind="distribution",
                    stage="distribution",
                )
                for end in ("a", "b")
            ]
            s.add_all(pair)
            s.flush()
            made = NetworkFlow(
                energy_type="electricity",
                from_node_id=pair[0].id,
                to_node_id=pair[1].id,
                metering_required=True,
            )
            s.add(made)
            s.flush()
            node, flow = pair[1].id, made.id
    return {"beta_node_only": node, "beta_flow_only": flow}


def _upload_objects(app: Any, world: Any) -> dict[str, Any]:
    """An upload registration, a mapped code and an outbox row in beta, at ids alpha lacks.

    A registration exists once per profile, so beta's sequences are moved past alpha's
    largest ids instead of inserting until they pass them.
    """
    from datetime import UTC, datetime
    from decimal import Decimal

    from sqlalchemy import func, select, text

    from ems.upload.models import UploadCode, UploadItem, UploadRegistration

    db = app.extensions["ems"].db
    tables = (
        (UploadRegistration, "upload_registrations"),
        (UploadCode, "upload_codes"),
        (UploadItem, "upload_items"),
    )
    with db.session(world.tenants["alpha"].schema_name) as s:
        alpha_max = {name: s.scalar(select(func.max(model.id))) or 0 for model, name in tables}
    beta = world.tenants["beta"].schema_name
    with db.transaction(beta) as s:
        for _, name in tables:
            s.execute(
                text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"),
                {"t": f"{beta}.{name}", "v": alpha_max[name] + 100},
            )
        reg = s.scalar(select(UploadRegistration).where(UploadRegistration.profile == "national"))
        if reg is None:
            reg = UploadRegistration(
                profile="national",
                base_url="http://127.0.0.1:9",
                enterprise_code=world.tenants["beta"].credit_code,
                region_code=world.tenants["beta"].region_code,
                status="registered",
                urls={},
                consecutive_failures=0,
                realtime_minutes=15,
                enabled=False,
            )
            s.add(reg)
            s.flush()
        code = UploadCode(
            registration_id=reg.id,
            code=f"00000000021200{uuid.uuid4().int % 90 + 10}",
            name="BETA 电力",
            scope=1,
            source="category",
            energy_type="electricity",
            input_type=2,
        )
        s.add(code)
        s.flush()
        start = datetime(2040, 1, 1, tzinfo=UTC)
        item = UploadItem(
            registration_id=reg.id,
            code_id=code.id,
            code=code.code,
            stat_type=1,
            period_start=start,
            version=1,
            value=Decimal("8888.77"),
            input_type=2,
            scope=1,
            status="correction",
            reason="BETA",
            due_at=start,
        )
        s.add(item)
        s.flush()
        return {
            "beta_registration_only": reg.id,
            "beta_code_only": code.id,
            "beta_item_only": item.id,
        }


def _actuals_objects(app: Any, world: Any) -> dict[str, Any]:
    """Shifts, manual quantities, products, outputs and values in beta, each up to an id
    alpha does not have."""
    from datetime import date
    from decimal import Decimal

    from sqlalchemy import func, select

    from ems.actuals import models as m

    db = app.extensions["ems"].db
    period = {"period_from": date(2040, 1, 1), "period_to": date(2040, 2, 1)}
    made: dict[str, Any] = {}
    for key, model, new in (
        (
            "shift",
            m.Shift,
            lambda n: m.Shift(
                name=f"BETA 班 {n}", start_minute=n % 96 * 15, end_minute=n % 96 * 15 + 15
            ),
        ),
        (
            "quantity",
            m.ManualQuantity,
            lambda n: m.ManualQuantity(
                energy_type="diesel",
                unit="t",
                quantity=Decimal(n),
                **period,
                reason="BETA",
                entered_by="bob",
            ),
        ),
        (
            "product",
            m.Product,
            lambda n: m.Product(code=f"BETA{n}", name=f"BETA 产品 {n}", unit="t"),
        ),
        (
            "output",
            m.ProductOutput,
            lambda n: m.ProductOutput(
                product_id=made["product"],
                quantity=Decimal(n),
                source="entered",
                entered_by="bob",
                period_from=date(2040 + n, 1, 1),
                period_to=date(2040 + n, 2, 1),
            ),
        ),
        (
            "value",
            m.OutputValue,
            lambda n: m.OutputValue(
                kind="value_added",
                price_basis="current",
                amount=Decimal(n),
                entered_by="bob",
                period_from=date(2040 + n, 1, 1),
                period_to=date(2040 + n, 2, 1),
            ),
        ),
    ):
        with db.session(world.tenants["alpha"].schema_name) as s:
            alpha_max = s.scalar(select(func.max(model.id))) or 0
        with db.transaction(world.tenants["beta"].schema_name) as s:
            made[key] = 0
            while made[key] <= alpha_max:
                row = new(made[key] + 1)
                s.add(row)
                s.flush()
                made[key] = row.id
    return {f"beta_{key}_only": value for key, value in made.items()}


def _actuals_state(app: Any, world: Any) -> tuple[Any, ...]:
    from sqlalchemy import select

    from ems.actuals import models as m

    db = app.extensions["ems"].db
    with db.session(world.tenants["beta"].schema_name) as s:
        return tuple(
            tuple(s.execute(select(*model.__table__.columns).order_by(model.id)).all())
            for model in (
                m.Shift,
                m.ManualQuantity,
                m.ManualReading,
                m.Product,
                m.ProductOutput,
                m.OutputValue,
            )
        )


def _ledger_objects(app: Any, world: Any) -> dict[str, Any]:
    """Personnel, their documents, equipment and efficiency records in beta, each up to an
    id alpha does not have (rows only: no document is read from the store)."""
    from datetime import date

    from sqlalchemy import func, select

    from ems.equipment.models import EfficiencyPeriod, Equipment
    from ems.personnel.models import Person, PersonDocument

    db = app.extensions["ems"].db
    tag = uuid.uuid4().hex[:6]
    made: dict[str, int] = {}
    for key, model, new in (
        ("person", Person, lambda n: Person(name=f"BETA 计量员 {n}")),
        (
            "document",
            PersonDocument,
            lambda n: PersonDocument(
                person_id=made["person"],
                kind="archive",
                title=f"BETA 档案 {n}",
                filename="b.pdf",
                content_type="application/pdf",
                size=1,
                sha256="0" * 64,
                storage_key=f"t_beta_works/personnel/{tag}-{n}",
                uploaded_by="bob",
            ),
        ),
        (
            "equipment",
            Equipment,
            lambda n: Equipment(
                name=f"BETA 锅炉 {n}", number=f"B{tag}-{n}", class_code="boiler", energy_types=[]
            ),
        ),
        (
            "period",
            EfficiencyPeriod,
            lambda n: EfficiencyPeriod(
                equipment_id=made["equipment"],
                period_from=date(2040, 1, 1) + timedelta(days=n),
                period_to=date(2040, 1, 2) + timedelta(days=n),
                quantities={"inputs": [], "outputs": [], "materials": []},
                source="entered",
                recorded_by="bob",
            ),
        ),
    ):
        with db.session(world.tenants["alpha"].schema_name) as s:
            alpha_max = s.scalar(select(func.max(model.id))) or 0
        with db.transaction(world.tenants["beta"].schema_name) as s:
            only = 0
            while only <= alpha_max:
                row = new(only)
                s.add(row)
                s.flush()
                only = row.id
        made[key] = only
    return {f"beta_{key}_only": value for key, value in made.items()}


def _job_objects(app: Any, world: Any) -> dict[str, Any]:
    """A finished export job with its file in beta, at an id alpha does not have."""
    from sqlalchemy import func, select, text

    from ems.jobs.models import Job

    db = app.extensions["ems"].db
    with db.session(world.tenants["alpha"].schema_name) as s:
        alpha_max = s.scalar(select(func.max(Job.id))) or 0
    beta = world.tenants["beta"].schema_name
    with db.transaction(beta) as s:
        s.execute(
            text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v)"),
            {"t": f"{beta}.jobs", "v": alpha_max + 100},
        )
        job = Job(
            kind="ledger_export",
            params={"ledger": "meters", "format": "csv"},
            status="done",
            done=0,
            created_by="bob@example.com",
            output_filename="beta.csv",
            output_content_type="text/csv",
            output_file=b"BETA",
        )
        s.add(job)
        s.flush()
        return {"beta_job_only": job.id}


@pytest.fixture(scope="module")
def beta_objects(app: Any, world: Any) -> dict[str, Any]:
    """Objects that exist in beta under ids alpha does not have."""
    from sqlalchemy import select

    from ems_tenants.models import Membership

    bob = app.test_client()
    bob.post(
        "/api/v1/auth/login",
        json={"email": world.users["bob"], "password": "correct-horse-battery"},
    )
    csrf = bob.get("/api/v1/me").get_json()["csrf_token"]
    made = bob.post(
        "/api/v1/tenants/beta-works/api-clients",
        json={"name": "BETA exchange", "scopes": ["tenant:read"]},
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status_code == 201, made.get_json()
    db = app.extensions["ems"].db
    with db.session() as s:
        beta_membership = s.scalar(
            select(Membership.id).where(Membership.tenant_id == world.tenants["beta"].id)
        )
    return {
        "beta_site_2": world.sites["beta"][1],
        "beta_membership": beta_membership,
        "beta_client": made.get_json()["client_id"],
        **_telemetry_objects(app, world),
        **_org_objects(app, world),
        **_energy_objects(app, world),
        **_ledger_objects(app, world),
        **_actuals_objects(app, world),
        **_network_objects(app, world),
        **_meter_objects(app, world),
        **_upload_objects(app, world),
        **_job_objects(app, world),
    }


def _beta_state(app: Any, world: Any) -> tuple[Any, ...]:
    from sqlalchemy import func, select

    from ems.sites.models import Site
    from ems.telemetry.models import (
        GatewayEvent,
        LatestValue,
        Point,
        QuarantineEntry,
        Reconciliation,
    )
    from ems.upload.models import UploadCode, UploadItem, UploadRegistration, UploadRequest
    from ems_tenants.models import Gateway, Membership, OAuthClient

    db = app.extensions["ems"].db
    with db.session(world.tenants["beta"].schema_name) as s:
        sites = tuple(s.execute(select(Site.id, Site.code, Site.name).order_by(Site.id)).all())
        memberships = tuple(
            s.execute(
                select(Membership.id, Membership.role)
                .where(Membership.tenant_id == world.tenants["beta"].id)
                .order_by(Membership.id)
            ).all()
        )
        clients = s.scalar(
            select(func.count()).where(
                OAuthClient.tenant_id == world.tenants["beta"].id, OAuthClient.revoked_at.is_(None)
            )
        )
        gateways = tuple(
            s.execute(
                select(
                    Gateway.id,
                    Gateway.status,
                    Gateway.password_hash,
                    Gateway.public_key,
                    Gateway.previous_public_key,
                    Gateway.rotated_at,
                    Gateway.revoked_at,
                )
                .where(Gateway.tenant_id == world.tenants["beta"].id)
                .order_by(Gateway.id)
            ).all()
        )
        points = tuple(
            s.execute(select(*(c for c in Point.__table__.columns)).order_by(Point.id)).all()
        )
        latest = tuple(s.execute(select(LatestValue.point, LatestValue.value)).all())
        quarantined = s.scalar(select(func.count()).select_from(QuarantineEntry))
        health = (
            s.scalar(select(func.count()).select_from(GatewayEvent)),
            tuple(s.execute(select(Reconciliation.code, Reconciliation.checked_at)).all()),
        )
        uploads = (
            tuple(
                s.execute(
                    select(
                        UploadRegistration.id,
                        UploadRegistration.base_url,
                        UploadRegistration.status,
                        UploadRegistration.enabled,
                    ).order_by(UploadRegistration.id)
                ).all()
            ),
            tuple(s.execute(select(UploadCode.id, UploadCode.code, UploadCode.name)).all()),
            tuple(s.execute(select(UploadItem.id, UploadItem.status, UploadItem.value)).all()),
            s.scalar(select(func.count()).select_from(UploadRequest)),
        )
    passwd = (app.extensions["ems"].settings.broker_dir / "passwd").read_text(encoding="utf-8")
    beta_accounts = tuple(line for line in passwd.splitlines() if line.startswith("beta-works-"))
    return (
        sites,
        memberships,
        clients,
        gateways,
        points,
        latest,
        quarantined,
        health,
        uploads,
        beta_accounts,
        _actuals_state(app, world),
    )


def test_routes_are_enumerated(app: Any) -> None:
    routes = tenant_routes(app)
    endpoints = {endpoint for _, endpoint, _ in routes}
    # Guard against the enumeration silently matching nothing.
    assert {"sites.Sites", "sites.SiteById", "tenant.Members", "tenant.audit_log"} <= endpoints
    assert {
        "gateways.Gateways",
        "gateways.GatewayById",
        "gateways.rotate",
        "gateways.revoke",
        "telemetry.Points",
        "telemetry.PointById",
        "telemetry.realtime",
        "telemetry.quarantine",
        "reconciliation.gateway_events",
        "reconciliation.Reconciliations",
        "reconciliation.completeness",
    } <= endpoints
    assert len(routes) >= 12


def test_alpha_user_cannot_reach_beta(
    app: Any, world: Any, client_for: Any, beta_objects: Any
) -> None:
    alice = client_for("alice")
    before = _beta_state(app, world)
    checked = 0
    for rule, endpoint, method in tenant_routes(app):
        body = BODIES.get((endpoint, method))
        headers = {"If-Match": '"0"'} if method in ("PUT", "DELETE") else {}
        # 1. beta's slug in the URL: beta does not exist for alice.
        url = fill(rule, "beta-works", beta_objects)
        r = alice.open(method, url, json=body, headers=headers)
        assert r.status_code == 404, (method, url, r.status_code, r.get_json())
        assert r.get_json()["error"]["code"] == "not_found"
        # 2. alpha's slug with an id that exists only in beta.
        if "<" in rule[len(TENANT_PREFIX) :]:
            url = fill(rule, "alpha-works", beta_objects)
            r = alice.open(method, url, json=body, headers=headers)
            assert r.status_code == 404, (method, url, r.status_code, r.get_json())
        checked += 1
    assert checked == len(tenant_routes(app))
    assert _beta_state(app, world) == before, "a request as alice changed beta"


def test_missing_and_foreign_answer_identically(client_for: Any, beta_objects: Any) -> None:
    alice = client_for("alice")
    foreign = alice.get(f"/api/v1/tenants/alpha-works/sites/{beta_objects['beta_site_2']}")
    missing = alice.get("/api/v1/tenants/alpha-works/sites/999999")
    assert foreign.status_code == missing.status_code == 404
    strip = lambda r: {k: v for k, v in r.get_json()["error"].items() if k != "request_id"}  # noqa: E731
    assert strip(foreign) == strip(missing)
    no_tenant = alice.get("/api/v1/tenants/no-such-tenant/sites")
    foreign_tenant = alice.get("/api/v1/tenants/beta-works/sites")
    assert strip(no_tenant) == strip(foreign_tenant)
    base = "/api/v1/tenants/alpha-works"
    point = {"gateway_id": beta_objects["alpha_gateway"], "code": "Z9", "name": "z", **POINT}
    for method, template, body in (
        ("GET", f"{base}/gateways/{{}}", None),
        ("POST", f"{base}/gateways/{{}}/rotate", {}),
        ("POST", f"{base}/gateways/{{}}/revoke", None),
        ("GET", f"{base}/points/{{}}", None),
        ("PUT", f"{base}/points/{{}}", point),
    ):
        is_point = "/points/" in template
        foreign_id = beta_objects["beta_point_only" if is_point else "beta_gateway"]
        missing_id = 999_999 if is_point else "alpha-works-no-such-gateway"
        foreign = alice.open(method, template.format(foreign_id), json=body)
        missing = alice.open(method, template.format(missing_id), json=body)
        assert foreign.status_code == missing.status_code == 404, (method, template)
        assert strip(foreign) == strip(missing), (method, template)


def test_lists_never_show_beta_rows(app: Any, client_for: Any, beta_objects: Any) -> None:
    alice = client_for("alice")
    lists = [
        (rule, endpoint)
        for rule, endpoint, method in tenant_routes(app)
        if method == "GET" and "<" not in rule[len(TENANT_PREFIX) :]
    ]
    assert len(lists) >= 5
    for rule, _ in lists:
        r = alice.get(rule.replace("<slug>", "alpha-works"))
        assert r.status_code == 200, (rule, r.get_json())
        text = r.get_data(as_text=True)
        assert "BETA" not in text and "bob@example.com" not in text, rule
        assert beta_objects["beta_client"] not in text, rule
        assert beta_objects["beta_gateway"] not in text, rule
        assert "4242.5" not in text, rule  # beta's real-time value


def test_colliding_ids_resolve_to_own_rows(client_for: Any, world: Any, beta_objects: Any) -> None:
    site_id = world.sites["alpha"][0]
    assert site_id == world.sites["beta"][0]
    alpha_view = client_for("alice").get(f"/api/v1/tenants/alpha-works/sites/{site_id}")
    beta_view = client_for("bob").get(f"/api/v1/tenants/beta-works/sites/{site_id}")
    assert alpha_view.get_json()["name"].startswith("ALPHA")
    assert beta_view.get_json()["name"].startswith("BETA")

    point_id = beta_objects["point_collide"]
    alpha_point = client_for("alice").get(f"/api/v1/tenants/alpha-works/points/{point_id}")
    beta_point = client_for("bob").get(f"/api/v1/tenants/beta-works/points/{point_id}")
    assert alpha_point.status_code == beta_point.status_code == 200
    assert alpha_point.get_json()["name"] == "ALPHA point"
    assert alpha_point.get_json()["gateway_id"] == beta_objects["alpha_gateway"]
    assert beta_point.get_json()["name"].startswith("BETA")
    assert beta_point.get_json()["gateway_id"] == beta_objects["beta_gateway"]
    # Beta's real-time value of its point with that id is beta's alone.
    beta_latest = client_for("bob").get("/api/v1/tenants/beta-works/realtime")
    assert beta_latest.status_code == 200, beta_latest.get_json()
    assert [(v["point_id"], v["value"]) for v in beta_latest.get_json()] == [(point_id, 4242.5)]
    alpha_latest = client_for("alice").get("/api/v1/tenants/alpha-works/realtime")
    assert alpha_latest.status_code == 200, alpha_latest.get_json()
    assert point_id not in {v["point_id"] for v in alpha_latest.get_json()}
