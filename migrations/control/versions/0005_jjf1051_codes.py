"""JJF 1051 instrument names and classification codes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21

JJF 1051-2009 (计量器具命名与分类编码) names instruments and gives each class a
7-digit code; provincial platforms distribute the table as dictionary 15 and the
meter ledger (DB53/T 1026 table A.1, 计量器具类型) refers to it. Published data:
the rows are in ``data/jjf1051_instruments.csv`` with their source. Only codes
with a source in the repository are seeded (1206100, the belt scale); the other
common energy metering classes are seeded by name, with an empty code and a note
saying so. Loading the full dictionary is a new migration adding rows.
"""

import csv
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA = Path(__file__).resolve().parents[1] / "data" / "jjf1051_instruments.csv"


def _rows() -> list[dict[str, str | None]]:
    # Empty cells are NULL: a name-only row has no code and no note may be empty.
    with DATA.open(encoding="utf-8") as f:
        return [{k: (v or None) for k, v in row.items()} for row in csv.DictReader(f)]


def upgrade() -> None:
    op.create_table(
        "instrument_classes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=7), nullable=True),
        sa.Column("name_zh", sa.String(length=100), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument_classes")),
        sa.UniqueConstraint("code", name=op.f("uq_instrument_classes_code")),
        schema="control",
    )
    classes = sa.table(
        "instrument_classes",
        *(sa.column(c) for c in ("code", "name_zh", "name_en", "source", "version", "note")),
        schema="control",
    )
    op.bulk_insert(classes, _rows())


def downgrade() -> None:
    op.drop_table("instrument_classes", schema="control")
