"""tenant coefficient overrides and energy settings

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coefficient_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("energy_type", sa.String(length=32), nullable=False),
        sa.Column("basis", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Numeric(), nullable=False),
        sa.Column("unit", sa.String(length=24), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from",
            name=op.f("ck_coefficient_overrides_valid_range"),
        ),
        sa.CheckConstraint("value > 0", name=op.f("ck_coefficient_overrides_value_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coefficient_overrides")),
        schema="tenant",
    )
    op.create_index(
        "ix_coefficient_overrides_lookup",
        "coefficient_overrides",
        ["energy_type", "basis", "valid_from"],
        schema="tenant",
    )
    op.create_table(
        "energy_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("electricity_basis", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_energy_settings_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_energy_settings")),
        schema="tenant",
    )
    # The one settings row, on the equivalent basis (the default the issue asks for). A
    # Table, not a lightweight sa.table(): only a Table follows the schema_translate_map.
    settings = sa.Table(
        "energy_settings",
        sa.MetaData(),
        sa.Column("id", sa.Integer()),
        sa.Column("electricity_basis", sa.String(16)),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        schema="tenant",
    )
    op.execute(
        settings.insert().values(id=1, electricity_basis="equivalent", updated_at=sa.func.now())
    )


def downgrade() -> None:
    op.drop_table("energy_settings", schema="tenant")
    op.drop_index(
        "ix_coefficient_overrides_lookup", table_name="coefficient_overrides", schema="tenant"
    )
    op.drop_table("coefficient_overrides", schema="tenant")
