"""rollups: point_rollups, category_rollups, meter_replacements

The rollup rows are derived from the readings by ems.telemetry.rollups; a
tenant upgraded to this revision gets them the next time its readings are
marked dirty (existing readings are not rolled up here: a migration must stay
fast, and ``recompute`` over the stored range does it on demand).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "category_rollups",
        sa.Column("energy_type", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("grain", sa.String(length=4), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumption", sa.Float(precision=53), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "energy_type", "unit", "grain", "start", name=op.f("pk_category_rollups")
        ),
        schema="tenant",
    )
    op.create_table(
        "point_rollups",
        sa.Column("point", sa.Integer(), nullable=False),
        sa.Column("grain", sa.String(length=4), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consumption", sa.Float(precision=53), nullable=True),
        sa.Column("minimum", sa.Float(precision=53), nullable=True),
        sa.Column("maximum", sa.Float(precision=53), nullable=True),
        sa.Column("mean", sa.Float(precision=53), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("point", "grain", "start", name=op.f("pk_point_rollups")),
        schema="tenant",
    )
    op.create_table(
        "meter_replacements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("point", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_final", sa.Float(precision=53), nullable=False),
        sa.Column("new_initial", sa.Float(precision=53), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["point"],
            ["tenant.points.id"],
            name=op.f("fk_meter_replacements_point_points"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_replacements")),
        schema="tenant",
    )
    op.create_index(
        "ix_meter_replacements_point_at",
        "meter_replacements",
        ["point", "at"],
        unique=False,
        schema="tenant",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_meter_replacements_point_at", table_name="meter_replacements", schema="tenant"
    )
    op.drop_table("meter_replacements", schema="tenant")
    op.drop_table("point_rollups", schema="tenant")
    op.drop_table("category_rollups", schema="tenant")
