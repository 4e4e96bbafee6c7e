"""GB 17167 metering thresholds and required equipping rates

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21

Published data, loaded from ``data/gb17167_requirements.csv`` with its source and
edition. Only the 2006 edition's figures are available (shared/reference/factors.md,
marked there as unverified); GB 17167-2025 replaced it on 2026-02-01. Its tables
belong in a new migration that adds rows for edition 2025; the rows here already
end where it begins, so the lookup then picks the new edition on its own.
"""

import csv
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA = Path(__file__).resolve().parents[1] / "data" / "gb17167_requirements.csv"


def _rows() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    with DATA.open(encoding="utf-8") as f:
        for raw in csv.DictReader(f):
            row: dict[str, object] = {k: (v or None) for k, v in raw.items()}
            row["level"] = int(raw["level"])
            for key in ("required_rate", "threshold"):
                row[key] = Decimal(raw[key]) if raw[key] else None
            for key in ("valid_from", "valid_to"):
                row[key] = date.fromisoformat(raw[key]) if raw[key] else None
            out.append(row)
    return out


def upgrade() -> None:
    op.create_table(
        "metering_requirements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("standard", sa.String(length=32), nullable=False),
        sa.Column("edition", sa.String(length=8), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("energy_type", sa.String(length=32), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("required_rate", sa.Numeric(), nullable=True),
        sa.Column("threshold", sa.Numeric(), nullable=True),
        sa.Column("threshold_unit", sa.String(length=16), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.CheckConstraint("level BETWEEN 1 AND 3", name=op.f("ck_metering_requirements_level")),
        sa.CheckConstraint(
            "required_rate IS NULL OR required_rate BETWEEN 0 AND 100",
            name=op.f("ck_metering_requirements_rate_range"),
        ),
        sa.ForeignKeyConstraint(
            ["energy_type"],
            ["control.energy_types.code"],
            name=op.f("fk_metering_requirements_energy_type_energy_types"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metering_requirements")),
        sa.UniqueConstraint(
            "standard",
            "edition",
            "energy_type",
            "level",
            name=op.f("uq_metering_requirements_standard"),
        ),
        schema="control",
    )
    table = sa.table(
        "metering_requirements",
        *(sa.column(c) for c in ("standard", "edition", "category", "energy_type", "level")),
        sa.column("required_rate", sa.Numeric()),
        sa.column("threshold", sa.Numeric()),
        sa.column("threshold_unit"),
        sa.column("valid_from", sa.Date()),
        sa.column("valid_to", sa.Date()),
        sa.column("source"),
        sa.column("note"),
        schema="control",
    )
    op.bulk_insert(table, _rows())


def downgrade() -> None:
    op.drop_table("metering_requirements", schema="control")
