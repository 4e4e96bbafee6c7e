"""Schemas of the equipment API: the ledger (table A.3), monitoring, inspections, efficiency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import marshmallow as ma
from marshmallow import validate

from ems.equipment.models import RunningState
from ems.web.fields import Text, decimal

ROW_ID = validate.Range(min=1, max=2**31 - 1)
# A unit as written in a ledger cell: kW, t/h, m³/h, 10^4 kWh/a ... (not a number first).
UNIT = r"^[^\s\d+\-.,][^\x00-\x1f\x7f]{0,15}$"
MAX_QUANTITY = Decimal("1e12")
# Efficiencies are ratios (0.85 for 85 %); a heat pump's or chiller's COP exceeds 1.
MAX_EFFICIENCY = Decimal(100)
DATES = validate.Range(min=date(1900, 1, 1), max=date(9999, 12, 30))
CLASS_CODE = validate.Length(min=1, max=32)


def _unit(**kwargs: Any) -> Text:
    return Text(16, validate=[validate.Length(min=1, max=16), validate.Regexp(UNIT)], **kwargs)


class EquipmentInputSchema(ma.Schema):
    """The columns of table A.3 and what running state and efficiency need (PUT replaces all)."""

    unit_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ROW_ID,
        metadata={"description": "所属部门 as an organisation unit (optional)"},
    )
    department = Text(100, load_default=None, allow_none=True, metadata={"description": "所属部门"})
    name = Text(100, required=True, validate=validate.Length(min=1, max=100))
    number = Text(
        64,
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "设备编号: unique; identifies the equipment on import"},
    )
    model = Text(100, load_default=None, allow_none=True, metadata={"description": "型号规格"})
    location = Text(200, load_default=None, allow_none=True, metadata={"description": "安装地点"})
    class_code = ma.fields.String(
        required=True, validate=CLASS_CODE, metadata={"description": "设备分类 (equipment-classes)"}
    )
    energy_types = ma.fields.List(
        ma.fields.String(validate=validate.Length(min=1, max=32)),
        load_default=list,
        validate=validate.Length(max=20),
        metadata={"description": "能源种类: energy type codes"},
    )
    rating_value = decimal(
        Decimal(0),
        MAX_QUANTITY,
        load_default=None,
        allow_none=True,
        metadata={"description": "能源消耗量或功率"},
    )
    rating_unit = _unit(load_default=None, allow_none=True)
    special = ma.fields.Boolean(
        load_default=None, allow_none=True, metadata={"description": "是否特种设备"}
    )
    attached_model = Text(
        100, load_default=None, allow_none=True, metadata={"description": "配套机电设备型号"}
    )
    attached_power_value = decimal(
        Decimal(0),
        MAX_QUANTITY,
        load_default=None,
        allow_none=True,
        metadata={"description": "配套机电设备功率"},
    )
    attached_power_unit = _unit(load_default=None, allow_none=True)
    remarks = Text(1000, multiline=True, load_default=None, allow_none=True)
    manufacturer = Text(
        200, load_default=None, allow_none=True, metadata={"description": "生产厂家"}
    )
    state_point_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ROW_ID,
        metadata={"description": "an instantaneous point (power, current) telling running state"},
    )
    state_threshold = ma.fields.Float(
        load_default=None,
        allow_none=True,
        allow_nan=False,
        validate=validate.Range(min=0, max=1e12),
        metadata={"description": "above this value of the state point the equipment runs"},
    )
    design_efficiency = decimal(
        Decimal(0),
        MAX_EFFICIENCY,
        min_inclusive=False,
        load_default=None,
        allow_none=True,
        metadata={"description": "设计效率, as a ratio (0.85)"},
    )
    target_efficiency = decimal(
        Decimal(0),
        MAX_EFFICIENCY,
        min_inclusive=False,
        load_default=None,
        allow_none=True,
        metadata={"description": "目标效率, as a ratio; a period below it is flagged"},
    )


class EquipmentSchema(EquipmentInputSchema):
    """Equipment as stored."""

    id = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class EquipmentQuerySchema(ma.Schema):
    """Filter the ledger."""

    q = Text(64, metadata={"description": "part of the name or the number"})
    class_code = ma.fields.String(validate=CLASS_CODE)
    unit_id = ma.fields.Integer(validate=ROW_ID)
    energy_type = ma.fields.String(validate=validate.Length(min=1, max=32))
    special = ma.fields.Boolean()


class ExportQuerySchema(ma.Schema):
    """Which file to export."""

    format = ma.fields.String(
        load_default="csv",
        validate=validate.OneOf(["csv", "xlsx"]),
        metadata={"description": "csv (UTF-8 with BOM; the default) or xlsx"},
    )
    extended = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "add 生产厂家, 设计效率, 目标效率 after the A.3 columns"},
    )


class MonitoringItemSchema(ma.Schema):
    """A row of table 4.5.3."""

    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    indicate = ma.fields.Boolean(metadata={"description": "指示"})
    totalise = ma.fields.Boolean(metadata={"description": "积算"})
    record = ma.fields.Boolean(metadata={"description": "记录"})
    applies_to_zh = ma.fields.String(allow_none=True)
    applies_to_en = ma.fields.String(allow_none=True)


class EquipmentClassSchema(ma.Schema):
    """An equipment class and its monitoring items."""

    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    group_zh = ma.fields.String(allow_none=True)
    group_en = ma.fields.String(allow_none=True)
    source = ma.fields.String()
    items = ma.fields.List(ma.fields.Nested(MonitoringItemSchema))


class BindingInputSchema(ma.Schema):
    """The points serving one monitoring item, or the item waived."""

    item_code = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    point_ids = ma.fields.List(
        ma.fields.Integer(validate=ROW_ID), load_default=list, validate=validate.Length(max=20)
    )
    not_applicable = ma.fields.Boolean(load_default=False)
    note = Text(200, load_default=None, allow_none=True)


class MonitoringInputSchema(ma.Schema):
    """Every binding of an equipment (replaces them all)."""

    bindings = ma.fields.List(
        ma.fields.Nested(BindingInputSchema), required=True, validate=validate.Length(max=100)
    )


class BoundPointSchema(ma.Schema):
    """A point bound to an item."""

    point_id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()
    kind = ma.fields.String()
    unit = ma.fields.String()


class CoverageItemSchema(MonitoringItemSchema):
    """A required item and what serves it."""

    points = ma.fields.List(ma.fields.Nested(BoundPointSchema))
    not_applicable = ma.fields.Boolean()
    note = ma.fields.String(allow_none=True)
    covered = ma.fields.Boolean(metadata={"description": "a point serves it, or it is waived"})


class MonitoringSchema(ma.Schema):
    """Required against bound monitoring items of an equipment."""

    equipment_id = ma.fields.Integer()
    class_code = ma.fields.String()
    required = ma.fields.Integer()
    covered = ma.fields.Integer()
    coverage = ma.fields.Float(
        allow_none=True, metadata={"description": "covered / required; null when none required"}
    )
    items = ma.fields.List(ma.fields.Nested(CoverageItemSchema))


class ParameterSchema(ma.Schema):
    """One process parameter read on a patrol."""

    value = decimal(-MAX_QUANTITY, MAX_QUANTITY, required=True)
    unit = _unit(load_default=None, allow_none=True)


class InspectionInputSchema(ma.Schema):
    """A patrol record."""

    inspected_at = ma.fields.AwareDateTime(required=True)
    state = ma.fields.String(
        required=True,
        validate=validate.OneOf([s.value for s in RunningState]),
        metadata={"description": "running 运行, stopped 停机, standby 备用, fault 故障"},
    )
    parameters = ma.fields.Dict(
        keys=Text(64, validate=validate.Length(min=1, max=64)),
        values=ma.fields.Nested(ParameterSchema),
        load_default=dict,
        validate=validate.Length(max=50),
        metadata={"description": "工艺参数: name -> {value, unit}"},
    )
    energy_note = Text(1000, multiline=True, load_default=None, allow_none=True)
    inspector = Text(
        100,
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=1, max=100),
        metadata={"description": "巡检人; the caller's name when absent"},
    )


class InspectionSchema(InspectionInputSchema):
    """A patrol record as stored."""

    id = ma.fields.Integer()
    equipment_id = ma.fields.Integer()
    recorded_by = ma.fields.String()
    created_at = ma.fields.AwareDateTime()


class InspectionQuerySchema(ma.Schema):
    """Which patrol records."""

    since = ma.fields.AwareDateTime()
    until = ma.fields.AwareDateTime()
    state = ma.fields.String(validate=validate.OneOf([s.value for s in RunningState]))


class StateSchema(ma.Schema):
    """The current running state and where it comes from."""

    equipment_id = ma.fields.Integer()
    state = ma.fields.String(metadata={"enum": [*(s.value for s in RunningState), "unknown"]})
    source = ma.fields.String(allow_none=True, metadata={"enum": ["point", "inspection", None]})
    at = ma.fields.AwareDateTime(allow_none=True)
    point = ma.fields.Dict(allow_none=True)
    inspection = ma.fields.Nested(InspectionSchema, allow_none=True)


class QuantityLineSchema(ma.Schema):
    """A quantity of a period: what, how much, in which unit, and the energy a unit carries."""

    label = Text(100, required=True, validate=validate.Length(min=1, max=100))
    energy_type = ma.fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=32)
    )
    quantity = decimal(Decimal(0), MAX_QUANTITY, required=True)
    unit = _unit(required=True)
    energy_content = decimal(
        Decimal(0),
        MAX_QUANTITY,
        min_inclusive=False,
        load_default=None,
        allow_none=True,
        metadata={"description": "energy per unit: a net calorific value, an enthalpy rise"},
    )
    energy_content_unit = Text(
        24,
        load_default=None,
        allow_none=True,
        validate=validate.Length(min=3, max=24),
        metadata={"description": "<energy unit>/<unit>, e.g. MJ/kg, GJ/t, kJ/m3"},
    )


def _lines(**kwargs: Any) -> ma.fields.List[Any]:
    return ma.fields.List(
        ma.fields.Nested(QuantityLineSchema), validate=validate.Length(max=20), **kwargs
    )


class PeriodInputSchema(ma.Schema):
    """Energy and material in and out over [from, to) (local days), entered by hand."""

    period_from = ma.fields.Date(required=True, data_key="from", validate=DATES)
    period_to = ma.fields.Date(
        required=True, data_key="to", validate=DATES, metadata={"description": "exclusive"}
    )
    inputs = _lines(required=True, metadata={"description": "energy in (counted)"})
    outputs = _lines(required=True, metadata={"description": "energy out (counted)"})
    materials = _lines(load_default=list, metadata={"description": "recorded, not counted"})
    note = Text(1000, multiline=True, load_default=None, allow_none=True)


class EvaluatedLineSchema(QuantityLineSchema):
    """A counted line with its energy in MJ."""

    energy_mj = ma.fields.Decimal(as_string=True)


class PeriodSchema(ma.Schema):
    """A period record with its efficiency against the equipment's design and target."""

    id = ma.fields.Integer()
    period_from = ma.fields.Date(data_key="from")
    period_to = ma.fields.Date(data_key="to")
    source = ma.fields.String(metadata={"enum": ["entered", "computed"]})
    complete = ma.fields.Boolean(
        metadata={"description": "computed from a figure for every day, none doubtful"}
    )
    inputs = ma.fields.List(ma.fields.Nested(EvaluatedLineSchema))
    outputs = ma.fields.List(ma.fields.Nested(EvaluatedLineSchema))
    materials = ma.fields.List(ma.fields.Nested(QuantityLineSchema))
    input_energy = ma.fields.Decimal(as_string=True, metadata={"description": "MJ"})
    output_energy = ma.fields.Decimal(as_string=True, metadata={"description": "MJ"})
    efficiency = ma.fields.Decimal(as_string=True, allow_none=True)
    below_target = ma.fields.Boolean(allow_none=True)
    vs_design = ma.fields.Decimal(
        as_string=True, allow_none=True, metadata={"description": "efficiency - design value"}
    )
    note = ma.fields.String(allow_none=True)
    recorded_by = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()


class SummarySchema(ma.Schema):
    """The listed periods taken together."""

    periods = ma.fields.Integer()
    periods_below_target = ma.fields.Integer()
    input_energy = ma.fields.Decimal(as_string=True)
    output_energy = ma.fields.Decimal(as_string=True)
    efficiency = ma.fields.Decimal(as_string=True, allow_none=True)
    below_target = ma.fields.Boolean(allow_none=True)
    vs_design = ma.fields.Decimal(as_string=True, allow_none=True)


class EfficiencySchema(ma.Schema):
    """An equipment's efficiency per period, against its design and target values."""

    equipment_id = ma.fields.Integer()
    unit = ma.fields.String(metadata={"description": "the unit of every energy figure"})
    design_efficiency = ma.fields.Decimal(as_string=True, allow_none=True)
    target_efficiency = ma.fields.Decimal(as_string=True, allow_none=True)
    periods = ma.fields.List(ma.fields.Nested(PeriodSchema))
    summary = ma.fields.Nested(SummarySchema)


class PeriodQuerySchema(ma.Schema):
    """Which periods: those meeting [from, to)."""

    period_from = ma.fields.Date(data_key="from", validate=DATES)
    period_to = ma.fields.Date(data_key="to", validate=DATES)


class ComputeInputSchema(ma.Schema):
    """The period to compute from the terms' points."""

    period_from = ma.fields.Date(required=True, data_key="from", validate=DATES)
    period_to = ma.fields.Date(
        required=True, data_key="to", validate=DATES, metadata={"description": "exclusive"}
    )


class TermInputSchema(ma.Schema):
    """One quantity of the efficiency definition."""

    role = ma.fields.String(
        required=True,
        validate=validate.OneOf(["input", "output", "material"]),
        metadata={"description": "input and output count; material is recorded"},
    )
    label = Text(100, required=True, validate=validate.Length(min=1, max=100))
    energy_type = ma.fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=32)
    )
    point_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ROW_ID,
        metadata={"description": "a cumulative point whose daily consumption feeds the term"},
    )
    unit = _unit(
        load_default=None, allow_none=True, metadata={"description": "the point's by default"}
    )
    energy_content = decimal(
        Decimal(0), MAX_QUANTITY, min_inclusive=False, load_default=None, allow_none=True
    )
    energy_content_unit = Text(
        24, load_default=None, allow_none=True, validate=validate.Length(min=3, max=24)
    )


class TermsInputSchema(ma.Schema):
    """The whole efficiency definition (replaces it)."""

    terms = ma.fields.List(
        ma.fields.Nested(TermInputSchema), required=True, validate=validate.Length(max=20)
    )


class TermSchema(TermInputSchema):
    """A term as stored."""

    id = ma.fields.Integer()
    position = ma.fields.Integer()
