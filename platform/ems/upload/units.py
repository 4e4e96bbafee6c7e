"""Unit changes by prefix or statistical scale only (kWh to 万kWh, kgce/t to tce/t).

The platform's dictionary names the unit it wants a code's value in; the tenant's figure
comes in the unit it was metered or entered in. Only plain scale changes are made here:
GB 3100 prefixes, 万 = 10^4 and 亿 = 10^8. These are unit definitions, not published
factors; anything else (kWh to GJ, t to tce) is a physical or statistical conversion that
needs data and is refused (None).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

# Prefixes and statistical scales only (GB 3100 prefixes, 万 = 10^4, 亿 = 10^8): unit
# definitions, not published factors. Each unit: (family, size in the family's unit).
# Families never mix: kWh and GJ, or t and tce, are not scale changes of each other.
_SCALES: Mapping[str, tuple[str, Decimal]] = {
    "Wh": ("electric energy", Decimal("0.001")),
    "kWh": ("electric energy", Decimal(1)),
    "MWh": ("electric energy", Decimal(1000)),
    "GWh": ("electric energy", Decimal(1_000_000)),
    "万kWh": ("electric energy", Decimal(10_000)),
    "亿kWh": ("electric energy", Decimal(100_000_000)),
    "kJ": ("heat", Decimal("0.001")),
    "MJ": ("heat", Decimal(1)),
    "GJ": ("heat", Decimal(1000)),
    "TJ": ("heat", Decimal(1_000_000)),
    "万GJ": ("heat", Decimal(10_000_000)),
    "L": ("volume", Decimal("0.001")),
    "m3": ("volume", Decimal(1)),
    "万m3": ("volume", Decimal(10_000)),
    "亿m3": ("volume", Decimal(100_000_000)),
    "Nm3": ("normal volume", Decimal(1)),
    "万Nm3": ("normal volume", Decimal(10_000)),
    "g": ("mass", Decimal("0.000001")),
    "kg": ("mass", Decimal("0.001")),
    "t": ("mass", Decimal(1)),
    "万t": ("mass", Decimal(10_000)),
    "kgce": ("standard coal", Decimal("0.001")),
    "tce": ("standard coal", Decimal(1)),
    "万tce": ("standard coal", Decimal(10_000)),
    "元": ("money", Decimal(1)),
    "千元": ("money", Decimal(1000)),
    "万元": ("money", Decimal(10_000)),
    "亿元": ("money", Decimal(100_000_000)),
}
_ALIASES = {
    "kW·h": "kWh",
    "kW.h": "kWh",
    "KWh": "kWh",
    "kwh": "kWh",
    "m³": "m3",
    "m^3": "m3",
    "Nm³": "Nm3",
    "CNY": "元",
    "10^4 CNY": "万元",
    "吨": "t",
    "千克": "kg",
    "立方米": "m3",
}


def _scale(unit: str) -> tuple[str, Decimal] | None:
    text = unit.strip()
    text = _ALIASES.get(text, text)
    if text.startswith("10^4 "):  # the energy catalogue's way of writing 万
        text = "万" + _ALIASES.get(text[5:], text[5:])
    return _SCALES.get(text)


def _factor(from_unit: str, to_unit: str) -> Decimal | None:
    """What a value in ``from_unit`` is multiplied by to be in ``to_unit`` (None: not a
    plain scale change). ``a/b`` units convert part by part (kgce/t to tce/t)."""
    if from_unit.strip() == to_unit.strip():
        return Decimal(1)
    if "/" in from_unit or "/" in to_unit:
        top, _, bottom = from_unit.partition("/")
        to_top, _, to_bottom = to_unit.partition("/")
        if not bottom or not to_bottom:
            return None
        upper, lower = _factor(top, to_top), _factor(bottom, to_bottom)
        return None if upper is None or lower is None else upper / lower
    source, target = _scale(from_unit), _scale(to_unit)
    if source is None or target is None or source[0] != target[0]:
        return None
    return source[1] / target[1]


def convert(value: Decimal | None, from_unit: str | None, to_unit: str | None) -> Decimal | None:
    """``value`` in ``from_unit`` expressed in ``to_unit`` when that is a plain prefix or
    scale change (kWh/MWh/万kWh, m3/万m3, t/kg/万t, GJ/MJ, tce/kgce, 元/万元, and ratios of
    them); None for anything else, or when a unit or the value is None."""
    if value is None or from_unit is None or to_unit is None:
        return None
    factor = _factor(from_unit, to_unit)
    return None if factor is None else value * factor
