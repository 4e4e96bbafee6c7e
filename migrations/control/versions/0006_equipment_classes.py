"""equipment classes and the monitoring items of the construction code's table 4.5.3

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21

Published data, loaded from CSV beside the scripts (``equipment_classes.csv``,
``equipment_monitoring_items.csv``). Table 4.5.3 of 工业企业能源管理系统建设技术规程
(重点用能设备实时监测项目及要求) lists, per class, what is to be indicated (指示),
totalised (积算) and recorded (记录); every row is loaded as printed, except that
the turbine's "近汽流量" is read as 进汽流量 (inlet steam flow), the evident misprint.
Classes A.3 ledgers commonly carry that the table does not cover (furnaces,
chillers, other) are loaded without monitoring items.
"""

import csv
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATA = Path(__file__).resolve().parents[1] / "data"
ITEMS_SOURCE = "工业企业能源管理系统建设技术规程 表4.5.3 重点用能设备实时监测项目及要求"


def _rows(name: str) -> list[dict[str, object]]:
    with (DATA / name).open(encoding="utf-8") as f:
        rows: list[dict[str, object]] = []
        for row in csv.DictReader(f):
            out: dict[str, object] = {k: (v or None) for k, v in row.items()}
            out["sort_order"] = int(row["sort_order"])
            for flag in ("indicate", "totalise", "record"):
                if flag in row:
                    out[flag] = row[flag] == "1"
            rows.append(out)
        return rows


def upgrade() -> None:
    classes = op.create_table(
        "equipment_classes",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.Column("group_zh", sa.String(length=64), nullable=True),
        sa.Column("group_en", sa.String(length=64), nullable=True),
        sa.Column("aliases", sa.String(length=200), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_equipment_classes")),
        schema="control",
    )
    items = op.create_table(
        "equipment_monitoring_items",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("class_code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=100), nullable=False),
        sa.Column("indicate", sa.Boolean(), nullable=False),
        sa.Column("totalise", sa.Boolean(), nullable=False),
        sa.Column("record", sa.Boolean(), nullable=False),
        sa.Column("applies_to_zh", sa.String(length=64), nullable=True),
        sa.Column("applies_to_en", sa.String(length=64), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["class_code"],
            ["control.equipment_classes.code"],
            name=op.f("fk_equipment_monitoring_items_class_code_equipment_classes"),
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_equipment_monitoring_items")),
        schema="control",
    )
    op.create_index(
        op.f("ix_control_equipment_monitoring_items_class_code"),
        "equipment_monitoring_items",
        ["class_code"],
        schema="control",
    )
    op.bulk_insert(classes, _rows("equipment_classes.csv"))
    op.bulk_insert(
        items,
        [{**row, "source": ITEMS_SOURCE} for row in _rows("equipment_monitoring_items.csv")],
    )


def downgrade() -> None:
    op.drop_table("equipment_monitoring_items", schema="control")
    op.drop_table("equipment_classes", schema="control")
