"""key energy-using equipment (table A.3), inspections, efficiency

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def _equipment() -> None:
    op.create_table(
        "equipment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("class_code", sa.String(length=32), nullable=False),
        sa.Column("energy_types", sa.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("rating_value", sa.Numeric(), nullable=True),
        sa.Column("rating_unit", sa.String(length=16), nullable=True),
        sa.Column("special", sa.Boolean(), nullable=True),
        sa.Column("attached_model", sa.String(length=100), nullable=True),
        sa.Column("attached_power_value", sa.Numeric(), nullable=True),
        sa.Column("attached_power_unit", sa.String(length=16), nullable=True),
        sa.Column("remarks", sa.String(length=1000), nullable=True),
        sa.Column("manufacturer", sa.String(length=200), nullable=True),
        sa.Column("state_point_id", sa.Integer(), nullable=True),
        sa.Column("state_threshold", sa.Float(), nullable=True),
        sa.Column("design_efficiency", sa.Numeric(), nullable=True),
        sa.Column("target_efficiency", sa.Numeric(), nullable=True),
        *_stamps(),
        sa.CheckConstraint(
            "state_threshold IS NULL OR state_threshold >= 0", name=op.f("ck_equipment_threshold")
        ),
        sa.CheckConstraint(
            "design_efficiency IS NULL OR design_efficiency > 0", name=op.f("ck_equipment_design")
        ),
        sa.CheckConstraint(
            "target_efficiency IS NULL OR target_efficiency > 0", name=op.f("ck_equipment_target")
        ),
        sa.ForeignKeyConstraint(
            ["state_point_id"],
            ["tenant.points.id"],
            name=op.f("fk_equipment_state_point_id_points"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["tenant.units.id"], name=op.f("fk_equipment_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment")),
        sa.UniqueConstraint("number", name=op.f("uq_equipment_number")),
        schema="tenant",
    )
    op.create_index(
        op.f("ix_tenant_equipment_class_code"), "equipment", ["class_code"], schema="tenant"
    )
    op.create_index(op.f("ix_tenant_equipment_unit_id"), "equipment", ["unit_id"], schema="tenant")


def _monitoring() -> None:
    op.create_table(
        "equipment_monitoring",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("item_code", sa.String(length=64), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=True),
        sa.Column("not_applicable", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "(point_id IS NULL) = not_applicable",
            name=op.f("ck_equipment_monitoring_point_or_waived"),
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            ["tenant.equipment.id"],
            name=op.f("fk_equipment_monitoring_equipment_id_equipment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["point_id"],
            ["tenant.points.id"],
            name=op.f("fk_equipment_monitoring_point_id_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_monitoring")),
        schema="tenant",
    )
    op.create_index(
        "uq_equipment_monitoring_binding",
        "equipment_monitoring",
        ["equipment_id", "item_code", "point_id"],
        unique=True,
        schema="tenant",
        postgresql_nulls_not_distinct=True,
    )
    op.create_index(
        op.f("ix_tenant_equipment_monitoring_point_id"),
        "equipment_monitoring",
        ["point_id"],
        schema="tenant",
    )


def _inspections() -> None:
    op.create_table(
        "equipment_inspections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("inspected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("energy_note", sa.String(length=1000), nullable=True),
        sa.Column("inspector", sa.String(length=100), nullable=False),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "state IN ('running', 'stopped', 'standby', 'fault')",
            name=op.f("ck_equipment_inspections_state"),
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            ["tenant.equipment.id"],
            name=op.f("fk_equipment_inspections_equipment_id_equipment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_inspections")),
        schema="tenant",
    )
    op.create_index(
        "ix_equipment_inspections_equipment_at",
        "equipment_inspections",
        ["equipment_id", "inspected_at"],
        schema="tenant",
    )


def _efficiency() -> None:
    op.create_table(
        "equipment_efficiency_terms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("energy_type", sa.String(length=32), nullable=True),
        sa.Column("point_id", sa.Integer(), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("energy_content", sa.Numeric(), nullable=True),
        sa.Column("energy_content_unit", sa.String(length=24), nullable=True),
        sa.CheckConstraint(
            "role IN ('input', 'output', 'material')",
            name=op.f("ck_equipment_efficiency_terms_role"),
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            ["tenant.equipment.id"],
            name=op.f("fk_equipment_efficiency_terms_equipment_id_equipment"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["point_id"],
            ["tenant.points.id"],
            name=op.f("fk_equipment_efficiency_terms_point_id_points"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_efficiency_terms")),
        schema="tenant",
    )
    op.create_index(
        op.f("ix_tenant_equipment_efficiency_terms_equipment_id"),
        "equipment_efficiency_terms",
        ["equipment_id"],
        schema="tenant",
    )
    op.create_table(
        "equipment_efficiency_periods",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("equipment_id", sa.Integer(), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("quantities", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        *_stamps(),
        sa.CheckConstraint(
            "period_to > period_from", name=op.f("ck_equipment_efficiency_periods_period")
        ),
        sa.CheckConstraint(
            "source IN ('entered', 'computed')",
            name=op.f("ck_equipment_efficiency_periods_source"),
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            ["tenant.equipment.id"],
            name=op.f("fk_equipment_efficiency_periods_equipment_id_equipment"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_equipment_efficiency_periods")),
        sa.UniqueConstraint(
            "equipment_id",
            "period_from",
            "period_to",
            name=op.f("uq_equipment_efficiency_periods_equipment_id"),
        ),
        schema="tenant",
    )


def upgrade() -> None:
    _equipment()
    _monitoring()
    _inspections()
    _efficiency()


def downgrade() -> None:
    for table in (
        "equipment_efficiency_periods",
        "equipment_efficiency_terms",
        "equipment_inspections",
        "equipment_monitoring",
        "equipment",
    ):
        op.drop_table(table, schema="tenant")
