"""manual entries, shifts, production and value

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "shifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("start_minute", sa.SmallInteger(), nullable=False),
        sa.Column("end_minute", sa.SmallInteger(), nullable=False),
        sa.Column("starts_previous_day", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        *_stamps(),
        sa.CheckConstraint(
            "start_minute BETWEEN 0 AND 1425 AND start_minute % 15 = 0",
            name=op.f("ck_shifts_start_minute"),
        ),
        sa.CheckConstraint(
            "end_minute BETWEEN 15 AND 1440 AND end_minute % 15 = 0",
            name=op.f("ck_shifts_end_minute"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shifts")),
        sa.UniqueConstraint("name", name=op.f("uq_shifts_name")),
        schema="tenant",
    )
    op.create_table(
        "manual_readings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(precision=53), nullable=False),
        sa.Column("previous_value", sa.Float(precision=53), nullable=True),
        sa.Column("previous_quality", sa.SmallInteger(), nullable=True),
        sa.Column("correction", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("entered_by", sa.String(length=254), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["point_id"], ["tenant.points.id"], name=op.f("fk_manual_readings_point_id_points")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_readings")),
        sa.UniqueConstraint("point_id", "ts", "version", name=op.f("uq_manual_readings_point_id")),
        schema="tenant",
    )
    op.create_table(
        "manual_quantities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("energy_type", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Numeric(), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("item", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("entered_by", sa.String(length=254), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *_stamps(),
        sa.CheckConstraint("period_to > period_from", name=op.f("ck_manual_quantities_period")),
        sa.CheckConstraint(
            "quantity >= 0", name=op.f("ck_manual_quantities_quantity_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["tenant.units.id"], name=op.f("fk_manual_quantities_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_quantities")),
        schema="tenant",
    )
    op.create_index(
        "ix_manual_quantities_period",
        "manual_quantities",
        ["period_from", "period_to"],
        schema="tenant",
    )
    op.create_table(
        "manual_quantity_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quantity_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("energy_type", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("quantity", sa.Numeric(), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("item", sa.String(length=200), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("entered_by", sa.String(length=254), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["quantity_id"],
            ["tenant.manual_quantities.id"],
            name=op.f("fk_manual_quantity_versions_quantity_id_manual_quantities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_manual_quantity_versions")),
        sa.UniqueConstraint(
            "quantity_id", "version", name=op.f("uq_manual_quantity_versions_quantity_id")
        ),
        schema="tenant",
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("point_id", sa.Integer(), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["point_id"], ["tenant.points.id"], name=op.f("fk_products_point_id_points")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["tenant.units.id"], name=op.f("fk_products_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("code", name=op.f("uq_products_code")),
        schema="tenant",
    )
    op.create_table(
        "product_outputs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("quantity", sa.Numeric(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("entered_by", sa.String(length=254), nullable=False),
        *_stamps(),
        sa.CheckConstraint("period_to > period_from", name=op.f("ck_product_outputs_period")),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_product_outputs_quantity_not_negative")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["tenant.products.id"],
            name=op.f("fk_product_outputs_product_id_products"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_outputs")),
        schema="tenant",
    )
    op.create_index(
        "ix_product_outputs_product_period",
        "product_outputs",
        ["product_id", "period_from"],
        schema="tenant",
    )
    op.create_table(
        "output_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("price_basis", sa.String(length=16), nullable=False),
        sa.Column("base_year", sa.SmallInteger(), nullable=True),
        sa.Column("period_from", sa.Date(), nullable=False),
        sa.Column("period_to", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("entered_by", sa.String(length=254), nullable=False),
        *_stamps(),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_output_values_amount_not_negative")),
        sa.CheckConstraint(
            "(price_basis = 'constant') = (base_year IS NOT NULL)",
            name=op.f("ck_output_values_base_year_if_constant"),
        ),
        sa.CheckConstraint(
            "kind IN ('output_value', 'value_added')", name=op.f("ck_output_values_kind")
        ),
        sa.CheckConstraint("period_to > period_from", name=op.f("ck_output_values_period")),
        sa.CheckConstraint(
            "price_basis IN ('current', 'constant')", name=op.f("ck_output_values_price_basis")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_output_values")),
        schema="tenant",
    )
    op.create_index(
        "ix_output_values_kind_period",
        "output_values",
        ["kind", "price_basis", "period_from"],
        schema="tenant",
    )


def downgrade() -> None:
    op.drop_index("ix_output_values_kind_period", table_name="output_values", schema="tenant")
    op.drop_table("output_values", schema="tenant")
    op.drop_index(
        "ix_product_outputs_product_period", table_name="product_outputs", schema="tenant"
    )
    op.drop_table("product_outputs", schema="tenant")
    op.drop_table("products", schema="tenant")
    op.drop_table("manual_quantity_versions", schema="tenant")
    op.drop_index("ix_manual_quantities_period", table_name="manual_quantities", schema="tenant")
    op.drop_table("manual_quantities", schema="tenant")
    op.drop_table("manual_readings", schema="tenant")
    op.drop_table("shifts", schema="tenant")
