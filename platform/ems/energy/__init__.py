"""Energy types, energy-carrying media and their standard coal coefficients (折标准煤系数).

The catalogue and the GB/T 2589 reference coefficients are shared reference data in the
control schema; a tenant adds its own measured coefficients as overrides and picks the
basis on which electricity is counted. Figures in tce are computed when read, from physical
quantities and the coefficient in force on each day (decision record 0013).
"""
