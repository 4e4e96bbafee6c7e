"""seed plans and province-level administrative divisions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

The division codes are government data (GB/T 2260) and live in a CSV beside
this script, loaded as rows with their version and source.
"""

import csv
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DIVISIONS_CSV = Path(__file__).resolve().parents[1] / "data" / "admin_divisions_provinces.csv"
DIVISIONS_VERSION = "2023"
DIVISIONS_SOURCE = "GB/T 2260; 民政部《2023年中华人民共和国县以上行政区划代码》, province level"

# Retention never below 3 years: the construction code (4.1.4, 4.4.3) requires raw data be kept >= 3 years.
PLANS = [
    ("trial", "试用版 Trial", 2, 500, 120, 1095, 5 * 1024**3),
    ("standard", "标准版 Standard", 20, 5_000, 600, 1095, 50 * 1024**3),
    ("enterprise", "企业版 Enterprise", 200, 50_000, 3000, 3650, 500 * 1024**3),
]


def upgrade() -> None:
    plans = sa.table(
        "plans",
        sa.column("code"),
        sa.column("name"),
        sa.column("max_gateways"),
        sa.column("max_points"),
        sa.column("api_requests_per_minute"),
        sa.column("retention_days"),
        sa.column("storage_bytes"),
        schema="control",
    )
    keys = [
        "code",
        "name",
        "max_gateways",
        "max_points",
        "api_requests_per_minute",
        "retention_days",
        "storage_bytes",
    ]
    op.bulk_insert(plans, [dict(zip(keys, row, strict=True)) for row in PLANS])

    divisions = sa.table(
        "admin_divisions",
        sa.column("code"),
        sa.column("version"),
        sa.column("name_zh"),
        sa.column("name_en"),
        sa.column("level"),
        sa.column("source"),
        schema="control",
    )
    with DIVISIONS_CSV.open(encoding="utf-8") as f:
        rows = [
            {**row, "version": DIVISIONS_VERSION, "source": DIVISIONS_SOURCE}
            for row in csv.DictReader(f)
        ]
    op.bulk_insert(divisions, rows)


def downgrade() -> None:
    op.execute(
        sa.text("DELETE FROM control.admin_divisions WHERE version = :v").bindparams(
            v=DIVISIONS_VERSION
        )
    )
    op.execute(
        sa.text("DELETE FROM control.plans WHERE code IN ('trial', 'standard', 'enterprise')")
    )
