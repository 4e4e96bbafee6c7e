"""Energy actuals (能耗实绩), manual entry, production and unit consumption (issue 5 items 6-8).

- **Actuals by category** (DB53/T 1026 §4.2.2, construction code §4.5.4): physical quantities
  per energy type from ``category_rollups`` over day, week, month, quarter, year, hour, shift
  and custom periods in the tenant's time zone, in tce at the coefficient in force each day,
  with year-on-year (同比) and period-on-period (环比) changes.
- **Manual entry** (手工录入): readings of a point written as MANUAL readings (and rolled up
  like metered ones), and period quantities of what has no meter; every version is kept.
- **Production and value**: products, their output (entered, imported from CSV, or read from a
  cumulative point), industrial output value and value added, and the unit consumption figures
  (单位产品综合能耗, 单位产值综合能耗) built on them.

Figures in tce are computed when read, never stored (decision 0013); see decision 0014.
"""
