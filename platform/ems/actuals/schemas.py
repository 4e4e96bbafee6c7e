"""Schemas of the actuals API.

Every figure travels as a decimal string with a fixed number of places (quantities 3, tce 4,
percentages 2, 10^4 CNY 4), rounded half up from the exact value only when shown: a JSON
number would be read as a binary float by most clients, and a report must reproduce the
digits it was sent.
"""

from __future__ import annotations

from decimal import Decimal

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from ems.actuals.models import OutputSource, PriceBasis, Shift, ValueKind
from ems.actuals.periods import Period
from ems.actuals.shifts import clock, duration
from ems.energy.schemas import BASES
from ems.telemetry.models import Quality

ROW_ID = validate.Range(min=1, max=2**31 - 1)
MAX_AMOUNT = Decimal(10) ** 12
MAX_PLACES = 6
REASON = validate.Length(min=1, max=2000)


def _amount(value: Decimal) -> None:
    # A plain function, not validate.Range: apispec would document a Range of this
    # string-typed field as a string maximum, which is not valid OpenAPI.
    if not 0 <= value <= MAX_AMOUNT:
        raise ma.ValidationError(f"must be at least 0 and at most {MAX_AMOUNT}")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_PLACES:
        raise ma.ValidationError(f"at most {MAX_PLACES} decimal places")


def _figure(places: int, description: str) -> ma.fields.String:
    return ma.fields.String(
        allow_none=True, metadata={"description": f"{description}; decimal, {places} places"}
    )


def _amount_field(description: str) -> ma.fields.Decimal:
    return ma.fields.Decimal(
        required=True,
        as_string=True,
        validate=_amount,
        metadata={"description": f"{description}; 0 to 10^12, at most {MAX_PLACES} places"},
    )


# --- queries ------------------------------------------------------------------------------

BOUND = {
    "description": "a local date YYYY-MM-DD, or (hour, custom) a timestamp with UTC offset",
}


class PeriodQuerySchema(ma.Schema):
    """Which buckets: a period kind and [from, to) in the tenant's time zone."""

    period = ma.fields.String(
        load_default=Period.DAY.value, validate=validate.OneOf([p.value for p in Period])
    )
    start = ma.fields.String(
        data_key="from", validate=validate.Length(min=10, max=40), metadata=BOUND
    )
    end = ma.fields.String(
        data_key="to",
        validate=validate.Length(min=10, max=40),
        metadata={**BOUND, "description": BOUND["description"] + "; exclusive"},
    )
    electricity_basis = ma.fields.String(
        validate=validate.OneOf(BASES),
        metadata={"description": "当量值 equivalent or 等价值 equal_value; default: setting"},
    )


class ActualsQuerySchema(PeriodQuerySchema):
    """An actuals report: period, bounds, one energy type or all, comparisons or not."""

    energy_type = ma.fields.String(validate=validate.Length(min=1, max=32))
    compare = ma.fields.Boolean(
        load_default=True, metadata={"description": "year-on-year and period-on-period"}
    )


class IntensityQuerySchema(PeriodQuerySchema):
    """A unit consumption report: period, bounds, one product or all."""

    period = ma.fields.String(
        load_default=Period.MONTH.value, validate=validate.OneOf([p.value for p in Period])
    )
    product_id = ma.fields.Integer(validate=ROW_ID)


# --- the actuals report -------------------------------------------------------------------


class CoefficientUsedSchema(ma.Schema):
    """A coefficient applied in a figure, where it came from, and on how many days."""

    energy_type = ma.fields.String()
    basis = ma.fields.String()
    value = ma.fields.String()
    unit = ma.fields.String()
    origin = ma.fields.String(metadata={"enum": ["override", "region", "national"]})
    row_id = ma.fields.Integer()
    region_code = ma.fields.String(allow_none=True)
    valid_from = ma.fields.Date()
    valid_to = ma.fields.Date(allow_none=True)
    source = ma.fields.String()
    version = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    days = ma.fields.Integer()


class BoundsSchema(ma.Schema):
    """A bucket's label and local bounds [start, end)."""

    label = ma.fields.String()
    start = ma.fields.DateTime()
    end = ma.fields.DateTime()


class LineComparisonSchema(ma.Schema):
    """One energy type against the base bucket named in the bucket's own comparison."""

    quantity = _figure(3, "base quantity")
    tce = _figure(4, "base tce")
    quantity_change = _figure(3, "quantity minus base")
    quantity_change_pct = _figure(2, "change in % of the base; null when the base is zero")
    tce_change = _figure(4, "tce minus base")
    tce_change_pct = _figure(2, "change in % of the base; null when the base is zero")
    reason = ma.fields.String(allow_none=True)


class TotalComparisonSchema(BoundsSchema):
    """The bucket's total tce against a base bucket."""

    total_tce = _figure(4, "base total")
    change = _figure(4, "total minus base")
    change_pct = _figure(2, "change in % of the base; null when the base is zero")
    complete = ma.fields.Boolean()
    reason = ma.fields.String(allow_none=True)


class EnergyLineSchema(ma.Schema):
    """One energy type in a bucket: quantity, tce, basis and quality."""

    energy_type = ma.fields.String()
    name_zh = ma.fields.String(allow_none=True)
    name_en = ma.fields.String(allow_none=True)
    category = ma.fields.String(allow_none=True)
    unit = ma.fields.String()
    quantity = _figure(3, "physical quantity in ``unit``")
    tce = _figure(4, "tonnes of standard coal equivalent; null when ``missing``")
    missing = ma.fields.String(allow_none=True, metadata={"description": "why tce is null"})
    coefficients = ma.fields.List(ma.fields.Nested(CoefficientUsedSchema))
    points = ma.fields.Integer(metadata={"description": "most points in any rollup row"})
    flags = ma.fields.List(
        ma.fields.String(),
        metadata={
            "description": "rollover, replacement, negative, gap, estimated, suspect, manual"
        },
    )
    manual = ma.fields.Boolean(metadata={"description": "a manual reading or quantity is in it"})
    manual_quantities = ma.fields.List(ma.fields.Integer())
    year_on_year = ma.fields.Nested(LineComparisonSchema)
    period_on_period = ma.fields.Nested(LineComparisonSchema)


class BucketSchema(BoundsSchema):
    """One bucket of the report."""

    shift_id = ma.fields.Integer(allow_none=True)
    day = ma.fields.Date(allow_none=True, metadata={"description": "production day (shifts)"})
    energy = ma.fields.List(ma.fields.Nested(EnergyLineSchema))
    total_tce = _figure(4, "sum of the energy types that have a tce figure")
    complete = ma.fields.Boolean(metadata={"description": "every energy type has a tce figure"})
    missing = ma.fields.List(ma.fields.String())
    flags = ma.fields.List(ma.fields.String())
    manual = ma.fields.Boolean()
    year_on_year = ma.fields.Nested(TotalComparisonSchema)
    period_on_period = ma.fields.Nested(TotalComparisonSchema)


class ReportSchema(ma.Schema):
    """A report: its period kind, bounds, zone and buckets."""

    period = ma.fields.String()
    timezone = ma.fields.String()
    start = ma.fields.DateTime(data_key="from")
    end = ma.fields.DateTime(data_key="to")


class ActualsSchema(ReportSchema):
    """Energy actuals by category (能耗实绩-分类)."""

    buckets = ma.fields.List(ma.fields.Nested(BucketSchema))


# --- unit consumption ---------------------------------------------------------------------


class ProductIntensitySchema(ma.Schema):
    """One product's output and unit-product consumption in a bucket."""

    product_id = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()
    unit = ma.fields.String()
    output = _figure(3, "qualified output in ``unit``")
    output_source = ma.fields.String(metadata={"enum": ["entered", "point"]})
    output_complete = ma.fields.Boolean()
    output_flags = ma.fields.List(ma.fields.String())
    unit_consumption = _figure(4, "kgce per product unit; null with ``reason``")
    unit_consumption_unit = ma.fields.String()
    reason = ma.fields.String(allow_none=True)


class ValueIntensitySchema(ma.Schema):
    """Output value or value added and the energy per 10^4 CNY of it."""

    kind = ma.fields.String(metadata={"enum": [k.value for k in ValueKind]})
    price_basis = ma.fields.String(metadata={"enum": [b.value for b in PriceBasis]})
    base_year = ma.fields.Integer(allow_none=True)
    amount = _figure(4, "10^4 CNY")
    complete = ma.fields.Boolean()
    unit_consumption = _figure(4, "tce per 10^4 CNY; null with ``reason``")
    unit_consumption_unit = ma.fields.String()
    reason = ma.fields.String(allow_none=True)


class IntensityBucketSchema(BoundsSchema):
    """One bucket of the unit consumption report."""

    energy_tce = _figure(4, "the numerator")
    energy_scope = ma.fields.String(
        metadata={"description": "what the numerator covers: enterprise_total until item 9"}
    )
    energy_reason = ma.fields.String(allow_none=True)
    products = ma.fields.List(ma.fields.Nested(ProductIntensitySchema))
    values = ma.fields.List(ma.fields.Nested(ValueIntensitySchema))


class IntensitySchema(ReportSchema):
    """Unit consumption (单位产品综合能耗, 单位产值综合能耗)."""

    buckets = ma.fields.List(ma.fields.Nested(IntensityBucketSchema))


# --- shifts -------------------------------------------------------------------------------


class ShiftInputSchema(ma.Schema):
    """A shift: wall-clock start and end in the tenant's zone, on quarter hours."""

    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=64))
    start = ma.fields.String(
        required=True,
        validate=validate.Length(min=5, max=5),
        metadata={"description": "HH:MM, a multiple of 15 minutes"},
    )
    end = ma.fields.String(
        required=True,
        validate=validate.Length(min=5, max=5),
        metadata={"description": "HH:MM (24:00 allowed); at or before start: the next day"},
    )
    starts_previous_day = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "the shift counts for the day after the one it starts on"},
    )
    sort_order = ma.fields.Integer(load_default=0, validate=validate.Range(min=0, max=1_000_000))


class ShiftSchema(ma.Schema):
    """A shift as stored."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    start = ma.fields.Method("_start")
    end = ma.fields.Method("_end")
    starts_previous_day = ma.fields.Boolean()
    sort_order = ma.fields.Integer()
    duration_minutes = ma.fields.Method("_duration")
    crosses_midnight = ma.fields.Method("_crosses")
    updated_at = ma.fields.AwareDateTime()

    def _start(self, row: Shift) -> str:
        return clock(row.start_minute)

    def _end(self, row: Shift) -> str:
        return clock(row.end_minute)

    def _duration(self, row: Shift) -> int:
        return duration(row)

    def _crosses(self, row: Shift) -> bool:
        return row.start_minute + duration(row) > 1440


# --- manual entry -------------------------------------------------------------------------


class ManualReadingInputSchema(ma.Schema):
    """A reading entered by hand (quality MANUAL)."""

    ts = ma.fields.AwareDateTime(required=True)
    value = ma.fields.Float(required=True, allow_nan=False)
    reason = ma.fields.String(required=True, validate=REASON)
    correction = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "true to replace a metered reading at ts (with the reason)"},
    )


class ManualReadingSchema(ma.Schema):
    """One version of a manual reading, with what it replaced."""

    id = ma.fields.Integer()
    point_id = ma.fields.Integer()
    ts = ma.fields.AwareDateTime()
    version = ma.fields.Integer()
    value = ma.fields.Float()
    previous_value = ma.fields.Float(allow_none=True)
    previous_quality = ma.fields.Method("_previous_quality", allow_none=True)
    correction = ma.fields.Boolean()
    reason = ma.fields.String()
    entered_by = ma.fields.String()
    entered_at = ma.fields.AwareDateTime()

    def _previous_quality(self, row: object) -> str | None:
        value = getattr(row, "previous_quality", None)
        return None if value is None else Quality(value).name.lower()


class ManualReadingQuerySchema(ma.Schema):
    """Versions at one time, or all of the point's."""

    ts = ma.fields.AwareDateTime()


class ManualQuantityInputSchema(ma.Schema):
    """A quantity used without a meter over local days [period_from, period_to)."""

    energy_type = ma.fields.String(required=True, validate=validate.Length(min=1, max=32))
    unit = ma.fields.String(required=True, validate=validate.Length(min=1, max=16))
    quantity = _amount_field("in ``unit``")
    period_from = ma.fields.Date(required=True)
    period_to = ma.fields.Date(required=True, metadata={"description": "exclusive"})
    unit_id = ma.fields.Integer(load_default=None, allow_none=True, validate=ROW_ID)
    item = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=200),
        metadata={"description": "分项 item, free text until the item model exists"},
    )
    reason = ma.fields.String(
        required=True,
        validate=REASON,
        metadata={"description": "where the figure comes from, or why it was corrected"},
    )


class ManualQuantitySchema(ManualQuantityInputSchema):
    """A manual quantity (its current version)."""

    id = ma.fields.Integer(dump_only=True)
    version = ma.fields.Integer(dump_only=True)
    entered_by = ma.fields.String(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class ManualQuantityVersionSchema(ManualQuantityInputSchema):
    """One version of a manual quantity."""

    quantity_id = ma.fields.Integer()
    version = ma.fields.Integer()
    entered_by = ma.fields.String()
    entered_at = ma.fields.AwareDateTime()


class ManualQuantityQuerySchema(ma.Schema):
    """Filter manual quantities by energy type and by local days they meet."""

    energy_type = ma.fields.String(validate=validate.Length(min=1, max=32))
    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")


# --- production and value -----------------------------------------------------------------


class ProductInputSchema(ma.Schema):
    """A product; with ``point_id`` its output is read from that cumulative point."""

    code = ma.fields.String(
        required=True, validate=[validate.Length(min=1, max=32), validate.Regexp(r"^[\w.-]+$")]
    )
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    name_en = ma.fields.String(
        load_default=None, allow_none=True, validate=validate.Length(max=200)
    )
    unit = ma.fields.String(
        required=True,
        validate=validate.Length(min=1, max=16),
        metadata={"description": "unit of output, e.g. t, 10^4 t, m3, kWh, 件"},
    )
    unit_id = ma.fields.Integer(
        load_default=None,
        allow_none=True,
        validate=ROW_ID,
        metadata={"description": "the producing organisation unit"},
    )
    point_id = ma.fields.Integer(load_default=None, allow_none=True, validate=ROW_ID)


class ProductSchema(ProductInputSchema):
    """A product."""

    id = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class OutputInputSchema(ma.Schema):
    """Qualified output of a product over local days [period_from, period_to)."""

    product_id = ma.fields.Integer(required=True, validate=ROW_ID)
    period_from = ma.fields.Date(required=True)
    period_to = ma.fields.Date(required=True, metadata={"description": "exclusive"})
    quantity = _amount_field("in the product's unit")
    note = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class OutputSchema(OutputInputSchema):
    """An output record."""

    id = ma.fields.Integer(dump_only=True)
    source = ma.fields.String(dump_only=True, metadata={"enum": [s.value for s in OutputSource]})
    entered_by = ma.fields.String(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class OutputQuerySchema(ma.Schema):
    """Filter output records."""

    product_id = ma.fields.Integer(validate=ROW_ID)
    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")


class OutputImportFileSchema(ma.Schema):
    """A CSV or XLSX file (by its name): headings product_code (产品代码), period_from
    (起始日期), period_to (截止日期, exclusive), quantity (合格产品产量), note (备注)."""

    file = Upload(required=True)


class OutputImportResultSchema(ma.Schema):
    """What an import wrote."""

    created = ma.fields.Integer()
    replaced = ma.fields.Integer()


class ValueInputSchema(ma.Schema):
    """Output value or value added over local days [period_from, period_to), in 10^4 CNY."""

    kind = ma.fields.String(
        required=True,
        validate=validate.OneOf([k.value for k in ValueKind]),
        metadata={"description": "工业总产值 output_value or 工业增加值 value_added"},
    )
    price_basis = ma.fields.String(
        load_default=PriceBasis.CURRENT.value,
        validate=validate.OneOf([b.value for b in PriceBasis]),
        metadata={"description": "现价 current or 不变价 constant (with base_year)"},
    )
    base_year = ma.fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1950, max=2100)
    )
    period_from = ma.fields.Date(required=True)
    period_to = ma.fields.Date(required=True, metadata={"description": "exclusive"})
    amount = _amount_field("10^4 CNY (万元)")
    note = ma.fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class ValueSchema(ValueInputSchema):
    """An output value record."""

    id = ma.fields.Integer(dump_only=True)
    entered_by = ma.fields.String(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class ValueQuerySchema(ma.Schema):
    """Filter output value records."""

    kind = ma.fields.String(validate=validate.OneOf([k.value for k in ValueKind]))
    start = ma.fields.Date(data_key="from")
    end = ma.fields.Date(data_key="to")
