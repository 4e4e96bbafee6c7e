"""Schemas of the meter ledger API. Field descriptions give the table A.1 heading."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from ems.meters.models import (
    ConnectedSystem,
    InstalledBy,
    Level,
    MeterState,
    Result,
    VerificationKind,
)
from ems.org.schemas import ROW_ID

# Ledger dates: wide enough for any instrument, narrow enough that adding an
# interval can never leave the calendar.
DATES = validate.Range(min=date(1900, 1, 1), max=date(2200, 12, 31))
MOMENTS = validate.Range(min=datetime(1970, 1, 1, tzinfo=UTC), max=datetime(2200, 1, 1, tzinfo=UTC))
MAX_INTERVAL_MONTHS = 240
MAX_RATIO = Decimal(1_000_000)
TYPE_CODE = r"^\d{7}$"


def printable(value: str) -> None:
    """No control characters: PostgreSQL refuses NUL in text, and a ledger cell has no use
    for the others."""
    if any(ord(c) < 32 for c in value) or "\x7f" in value:
        raise ma.ValidationError("control characters are not allowed")


def printable_lines(value: str) -> None:
    """Like :func:`printable`, but line breaks and tabs are kept (notes, reasons)."""
    printable(value.replace("\n", " ").replace("\r", " ").replace("\t", " "))


def _ratio(value: Decimal) -> None:
    # A plain function, not validate.Range: apispec would document a Range of this
    # string-typed field as a string maximum, which is not valid OpenAPI.
    if not 0 < value <= MAX_RATIO:
        raise ma.ValidationError(f"must be above 0 and at most {MAX_RATIO}")


def _text(max_length: int, description: str, *, lines: bool = False) -> ma.fields.String:
    return ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=[validate.Length(max=max_length), printable_lines if lines else printable],
        metadata={"description": description},
    )


def _day(description: str) -> ma.fields.Date:
    return ma.fields.Date(
        load_default=None, allow_none=True, validate=DATES, metadata={"description": description}
    )


def _numbered(
    values: type[Level | InstalledBy | ConnectedSystem], description: str
) -> ma.fields.Integer:
    return ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf([v.value for v in values]),
        metadata={"description": description},
    )


class MeterInputSchema(ma.Schema):
    """The editable fields of a meter: table A.1 and the platform's own (PUT replaces all)."""

    name = ma.fields.String(
        required=True,
        validate=[validate.Length(min=1, max=200), printable],
        metadata={"description": "计量器具名称 instrument name (JJF 1051 naming)"},
    )
    type_code = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Regexp(TYPE_CODE, error="7 digits"),
        metadata={"description": "计量器具类型: JJF 1051 code (see /instrument-classes)"},
    )
    level = ma.fields.Integer(
        required=True,
        validate=validate.OneOf([v.value for v in Level]),
        metadata={
            "description": "器具等级: 1 enterprise in/out, 2 main sub-unit in/out, 3 equipment"
        },
    )
    parameters = _text(200, "计量相关参数 measured quantity / parameters")
    model = _text(200, "型号规格 model and specification")
    accuracy_class = _text(32, "准确度等级 accuracy class")
    measuring_range = _text(100, "测量范围 measuring range")
    manufacturer = _text(200, "生产厂家 manufacturer")
    management_number = ma.fields.String(
        required=True,
        validate=[validate.Length(min=1, max=64), printable],
        metadata={"description": "管理编号 management number, unique in the enterprise"},
    )
    location = _text(200, "安装使用地点 installation location")
    installed_by = _numbered(InstalledBy, "安装方: 1 the enterprise, 2 the supplier, 3 third party")
    installed_on = _day("安装时间 installation date")
    connected_system = _numbered(ConnectedSystem, "接入系统: 1 own system, 2 supplier's system")
    state = ma.fields.String(
        load_default=MeterState.NORMAL.value,
        validate=validate.OneOf([s.value for s in MeterState]),
        metadata={"description": "目前状态: normal 正常, faulty 故障, out_of_service 停用"},
    )
    state_since = _day("状态发生时间 when the state began")
    verification_result = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf([r.value for r in Result]),
        metadata={"description": "检定/校准状态: pass 合格, fail 不合格"},
    )
    verification_body = _text(200, "检定/校准机构 verifying / calibrating body")
    interval_months = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=1, max=MAX_INTERVAL_MONTHS),
        metadata={"description": "检定/校准周期 interval, in months"},
    )
    last_verified_on = _day("最近一次检定/校准时间 last verification / calibration")
    next_due_on = _day(
        "下一次检定/校准时间: null or equal to last + interval follows them; "
        "another date is kept as an override"
    )
    not_verified_reason = _text(
        500, "未检定/校准原因 reason when not verified / calibrated", lines=True
    )
    site_id = ma.fields.Integer(load_default=None, allow_none=True, validate=ROW_ID)
    unit_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ROW_ID,
        metadata={"description": "the organisation unit; the site follows from it if not given"},
    )
    gateway_id = _text(64, "the gateway that reads it (接入系统)")
    energy_type = _text(32, "energy type code (see /energy-types)")
    ct_ratio = ma.fields.Decimal(
        load_default=None,
        allow_none=True,
        as_string=True,
        validate=_ratio,
        metadata={"description": "current transformer ratio, e.g. 40 for 200/5"},
    )
    pt_ratio = ma.fields.Decimal(
        load_default=None,
        allow_none=True,
        as_string=True,
        validate=_ratio,
        metadata={"description": "voltage transformer ratio, e.g. 100 for 10000/100"},
    )
    factory_number = _text(64, "出厂编号 factory (serial) number")


class MeterSchema(MeterInputSchema):
    """A meter as stored."""

    id = ma.fields.Integer(dump_only=True)
    next_due_overridden = ma.fields.Boolean(
        dump_only=True, metadata={"description": "next_due_on was set by hand"}
    )
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class MeterQuerySchema(ma.Schema):
    """Filter the ledger."""

    level = ma.fields.Integer(validate=validate.OneOf([v.value for v in Level]))
    state = ma.fields.String(validate=validate.OneOf([s.value for s in MeterState]))
    type_code = ma.fields.String(validate=validate.Regexp(TYPE_CODE, error="7 digits"))
    energy_type = ma.fields.String(validate=[validate.Length(min=1, max=32), printable])
    site_id = ma.fields.Integer(validate=ROW_ID)
    unit_id = ma.fields.Integer(validate=ROW_ID)
    due_by = ma.fields.Date(
        validate=DATES, metadata={"description": "next due on or before this date"}
    )
    q = ma.fields.String(
        validate=[validate.Length(min=1, max=100), printable],
        metadata={"description": "part of the name or the management number"},
    )


class MeterExportQuerySchema(MeterQuerySchema):
    """Which file, of which meters."""

    # CSV by default, like the other ledgers' exports; ask for xlsx for a workbook.
    format = ma.fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class MeterImportFileSchema(ma.Schema):
    """A ledger file: XLSX or CSV, the table A.1 headings in the first row."""

    file = Upload(required=True)


class MeterImportQuerySchema(ma.Schema):
    """Check only, or write."""

    dry_run = ma.fields.Boolean(
        load_default=False, metadata={"description": "check the file and write nothing"}
    )


class MeterImportResultSchema(ma.Schema):
    """What an import did."""

    rows = ma.fields.Integer()
    created = ma.fields.Integer()
    updated = ma.fields.Integer()
    unchanged = ma.fields.Integer()
    linked_points = ma.fields.Integer()
    dry_run = ma.fields.Boolean()


class MeterStateInputSchema(ma.Schema):
    """A change of state: a fault, a repair, taking out of service."""

    state = ma.fields.String(required=True, validate=validate.OneOf([s.value for s in MeterState]))
    since = ma.fields.Date(required=True, validate=DATES)
    reason = _text(500, "why (a fault, a repair, retirement)", lines=True)


class MeterStateSchema(MeterStateInputSchema):
    """An entry of a meter's state history."""

    id = ma.fields.Integer(dump_only=True)
    since = ma.fields.Date(allow_none=True)
    recorded_by = ma.fields.String(dump_only=True)
    recorded_at = ma.fields.AwareDateTime(dump_only=True)


class MeterVerificationInputSchema(ma.Schema):
    """A verification (检定) or calibration (校准) of a meter."""

    performed_on = ma.fields.Date(required=True, validate=DATES)
    kind = ma.fields.String(
        load_default=VerificationKind.VERIFICATION.value,
        validate=validate.OneOf([k.value for k in VerificationKind]),
        metadata={"description": "verification 检定 or calibration 校准"},
    )
    result = ma.fields.String(
        required=True,
        validate=validate.OneOf([r.value for r in Result]),
        metadata={"description": "pass 合格 or fail 不合格"},
    )
    body = _text(200, "检定/校准机构 the verifying / calibrating body")
    certificate_number = _text(64, "certificate number 证书编号")
    next_due_on = _day("null: the date plus the meter's interval")
    note = _text(1000, "note", lines=True)


class MeterVerificationSchema(MeterVerificationInputSchema):
    """A verification or calibration record."""

    id = ma.fields.Integer(dump_only=True)
    meter_id = ma.fields.Integer(dump_only=True)
    recorded_by = ma.fields.String(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)


class MeterLinkInputSchema(ma.Schema):
    """A point to link to the meter."""

    point_id = ma.fields.Integer(required=True, validate=ROW_ID)


class MeterLinkedPointSchema(ma.Schema):
    """A point the meter feeds."""

    point_id = ma.fields.Integer()
    gateway_id = ma.fields.String()
    code = ma.fields.String()
    name = ma.fields.String()
    kind = ma.fields.String()
    unit = ma.fields.String()
    meter_code = ma.fields.String(allow_none=True)
    linked_by = ma.fields.String(metadata={"enum": ["auto", "manual"]})
    linked_at = ma.fields.AwareDateTime()


class MeterAutoLinkResultSchema(ma.Schema):
    """How many points were linked by their meter code."""

    linked = ma.fields.Integer()


class MeterCounterBaseSchema(ma.Schema):
    """The counter of one cumulative point at the replacement."""

    point_id = ma.fields.Integer(required=True, validate=ROW_ID)
    old_final = ma.fields.Float(
        required=True, allow_nan=False, metadata={"description": "the old meter's last reading"}
    )
    new_initial = ma.fields.Float(
        required=True, allow_nan=False, metadata={"description": "the new meter's first reading"}
    )
    note = _text(500, "note", lines=True)


class ReplacementNewMeterSchema(ma.Schema):
    """Details of the instrument put in (they update the ledger row)."""

    factory_number = _text(64, "出厂编号")
    model = _text(200, "型号规格")
    manufacturer = _text(200, "生产厂家")
    accuracy_class = _text(32, "准确度等级")
    measuring_range = _text(100, "测量范围")
    installed_on = _day("安装时间 (default: the replacement's local date)")
    verification = ma.fields.Nested(
        MeterVerificationInputSchema,
        load_default=None,
        allow_none=True,
        metadata={"description": "the new instrument's last verification, if known"},
    )


class MeterReplacementInputSchema(ma.Schema):
    """A physical replacement: when, and the counter bases of every cumulative point."""

    at = ma.fields.AwareDateTime(
        required=True,
        validate=MOMENTS,
        metadata={"description": "when (with its zone)"},
    )
    points = ma.fields.List(
        ma.fields.Nested(MeterCounterBaseSchema),
        required=True,
        validate=validate.Length(max=100),
        metadata={"description": "one entry per cumulative point linked to the meter"},
    )
    new_meter = ma.fields.Nested(ReplacementNewMeterSchema, load_default=None, allow_none=True)
    note = _text(500, "note", lines=True)


class MeterReplacementSchema(ma.Schema):
    """A replacement as recorded."""

    id = ma.fields.Integer()
    meter_id = ma.fields.Integer()
    at = ma.fields.AwareDateTime()
    old_factory_number = ma.fields.String(allow_none=True)
    new_factory_number = ma.fields.String(allow_none=True)
    old_model = ma.fields.String(allow_none=True)
    new_model = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    recorded_by = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    points = ma.fields.List(ma.fields.Nested(MeterCounterBaseSchema))


class InstrumentClassSchema(ma.Schema):
    """A JJF 1051 instrument name, with its code where one is known, and its source."""

    code = ma.fields.String(allow_none=True)
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    source = ma.fields.String()
    version = ma.fields.String()
    note = ma.fields.String(allow_none=True)


class MeterCountSchema(ma.Schema):
    """A count, split by metering level ({"1": n, "2": n, "3": n})."""

    count = ma.fields.Integer()
    by_level = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())


class MeterTypeCountSchema(MeterCountSchema):
    """Meters of one JJF 1051 code (null: no code recorded)."""

    type_code = ma.fields.String(allow_none=True)
    type_name = ma.fields.String(allow_none=True)


class MeterNameCountSchema(MeterCountSchema):
    """Meters of one instrument name."""

    name = ma.fields.String()


class MeterEnergyCountSchema(MeterCountSchema):
    """Meters of one energy type (null: none recorded)."""

    energy_type = ma.fields.String(allow_none=True)


class MeterStateCountSchema(MeterCountSchema):
    """Meters in one state."""

    state = ma.fields.String()


class MeterLevelCountSchema(ma.Schema):
    """Meters of one metering level."""

    level = ma.fields.Integer()
    count = ma.fields.Integer()


class MeterDueCountSchema(ma.Schema):
    """Where the ledger stands on verification (meters out of service left out)."""

    today = ma.fields.Date()
    lead_days = ma.fields.Integer()
    overdue = ma.fields.Integer()
    due_within_lead_days = ma.fields.Integer()
    failed = ma.fields.Integer()
    no_due_date = ma.fields.Integer()


class MeterSummarySchema(ma.Schema):
    """Meter equipping at a glance: counts by level, JJF 1051 code and name, energy, state."""

    total = ma.fields.Integer()
    by_level = ma.fields.List(ma.fields.Nested(MeterLevelCountSchema))
    by_type = ma.fields.List(ma.fields.Nested(MeterTypeCountSchema))
    by_name = ma.fields.List(ma.fields.Nested(MeterNameCountSchema))
    by_energy_type = ma.fields.List(ma.fields.Nested(MeterEnergyCountSchema))
    by_state = ma.fields.List(ma.fields.Nested(MeterStateCountSchema))
    verification = ma.fields.Nested(MeterDueCountSchema)
