"""Key energy-using equipment (用能单位重点用能设备, DB53/T 1026-2021 §4.6 and table A.3): the
ledger, the monitoring points of the construction code's table 4.5.3, running state from points
and inspections, and efficiency against design and target values."""

# The ledger's delete guard on organisation units must be registered in every process
# that can delete a unit, and every process loads the models, hence this package.
from ems.equipment import services as _services  # noqa: F401
