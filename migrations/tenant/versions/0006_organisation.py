"""organisation model: units under sites

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("role", sa.String(length=24), nullable=True),
        sa.Column("process_code", sa.String(length=16), nullable=True),
        sa.Column("inside_boundary", sa.Boolean(), nullable=False),
        sa.Column("is_key_unit", sa.Boolean(), nullable=False),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('sub_factory', 'workshop', 'process', 'process_unit')",
            name=op.f("ck_units_kind"),
        ),
        sa.CheckConstraint(
            "role IS NULL OR role IN ('main_production', 'auxiliary_production', "
            "'ancillary_production', 'living')",
            name=op.f("ck_units_role"),
        ),
        sa.CheckConstraint(
            "parent_id IS NULL OR parent_id <> id", name=op.f("ck_units_not_own_parent")
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["tenant.units.id"], name=op.f("fk_units_parent_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["tenant.sites.id"], name=op.f("fk_units_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("code", name=op.f("uq_units_code")),
        schema="tenant",
    )
    op.create_index(op.f("ix_tenant_units_parent_id"), "units", ["parent_id"], schema="tenant")
    op.create_index(op.f("ix_tenant_units_site_id"), "units", ["site_id"], schema="tenant")


def downgrade() -> None:
    op.drop_index(op.f("ix_tenant_units_site_id"), table_name="units", schema="tenant")
    op.drop_index(op.f("ix_tenant_units_parent_id"), table_name="units", schema="tenant")
    op.drop_table("units", schema="tenant")
