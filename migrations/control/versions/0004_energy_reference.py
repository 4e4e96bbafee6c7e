"""energy types, media and GB/T 2589 standard coal coefficients

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21

The catalogue and the coefficients are published data: they live in CSV files
beside this script, one row per value with its source, and are loaded as rows.
A revision of the standard is a new migration that ends the old rows
(``valid_to``) and loads new ones, never an edit of these.
"""

import csv
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA = Path(__file__).resolve().parents[1] / "data"
TYPES_CSV = DATA / "energy_types.csv"
COEFFICIENTS_CSV = DATA / "coal_coefficients.csv"


def _rows(path: Path) -> list[dict[str, str | None]]:
    # Empty cells are NULL (a national row has no region, an open row no end date).
    with path.open(encoding="utf-8") as f:
        return [{k: (v or None) for k, v in row.items()} for row in csv.DictReader(f)]


def _typed(row: dict[str, str | None]) -> dict[str, object]:
    # Exact decimals, never floats: 0.1229 must stay 0.1229.
    out: dict[str, object] = dict(row)
    out["value"] = Decimal(str(row["value"]))
    for key in ("valid_from", "valid_to"):
        out[key] = date.fromisoformat(row[key]) if row[key] else None
    return out


def upgrade() -> None:
    op.create_table(
        "energy_types",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_energy_types")),
        schema="control",
    )
    op.create_table(
        "coal_coefficients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("energy_type", sa.String(length=32), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Numeric(), nullable=False),
        sa.Column("unit", sa.String(length=24), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_coal_coefficients_valid_range"),
        ),
        sa.CheckConstraint("value > 0", name=op.f("ck_coal_coefficients_value_positive")),
        sa.ForeignKeyConstraint(
            ["energy_type"],
            ["control.energy_types.code"],
            name=op.f("fk_coal_coefficients_energy_type_energy_types"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coal_coefficients")),
        schema="control",
    )
    op.create_index(
        "ix_coal_coefficients_lookup",
        "coal_coefficients",
        ["energy_type", "basis", "region_code", "valid_from"],
        schema="control",
    )
    types = sa.table(
        "energy_types",
        *(sa.column(c) for c in ("code", "name_zh", "name_en", "category", "unit")),
        sa.column("dimension"),
        sa.column("source"),
        schema="control",
    )
    op.bulk_insert(types, _rows(TYPES_CSV))
    coefficients = sa.table(
        "coal_coefficients",
        *(sa.column(c) for c in ("energy_type", "region_code", "basis", "unit", "source")),
        sa.column("value", sa.Numeric()),
        sa.column("valid_from", sa.Date()),
        sa.column("valid_to", sa.Date()),
        sa.column("version"),
        sa.column("note"),
        schema="control",
    )
    op.bulk_insert(coefficients, [_typed(row) for row in _rows(COEFFICIENTS_CSV)])


def downgrade() -> None:
    op.drop_index("ix_coal_coefficients_lookup", table_name="coal_coefficients", schema="control")
    op.drop_table("coal_coefficients", schema="control")
    op.drop_table("energy_types", schema="control")
