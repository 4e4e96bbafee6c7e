"""metering and energy balance networks

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS = "'supplier', 'customer', 'storage', 'conversion', 'distribution', 'unit', 'equipment', 'recovery'"
STAGES = "'purchase_storage', 'conversion', 'distribution', 'final_use', 'recovery', 'export'"


def upgrade() -> None:
    op.create_table(
        "network_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("stage", sa.String(length=24), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("equipment_id", sa.Integer(), nullable=True),
        sa.Column("sort_order", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"kind IN ({KINDS})", name=op.f("ck_network_nodes_kind")),
        sa.CheckConstraint(f"stage IN ({STAGES})", name=op.f("ck_network_nodes_stage")),
        sa.CheckConstraint(
            "kind <> 'unit' OR unit_id IS NOT NULL", name=op.f("ck_network_nodes_unit_has_unit")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["tenant.units.id"], name=op.f("fk_network_nodes_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_nodes")),
        sa.UniqueConstraint("code", name=op.f("uq_network_nodes_code")),
        schema="tenant",
    )
    op.create_index(op.f("ix_network_nodes_unit_id"), "network_nodes", ["unit_id"], schema="tenant")
    op.create_index(
        op.f("ix_network_nodes_equipment_id"), "network_nodes", ["equipment_id"], schema="tenant"
    )
    op.create_table(
        "network_flows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("energy_type", sa.String(length=32), nullable=False),
        sa.Column("from_node_id", sa.Integer(), nullable=False),
        sa.Column("to_node_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=True),
        sa.Column("metering_required", sa.Boolean(), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=32), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("from_node_id <> to_node_id", name=op.f("ck_network_flows_not_a_loop")),
        sa.CheckConstraint(
            "level IS NULL OR level BETWEEN 1 AND 3", name=op.f("ck_network_flows_level")
        ),
        sa.ForeignKeyConstraint(
            ["from_node_id"],
            ["tenant.network_nodes.id"],
            name=op.f("fk_network_flows_from_node_id_network_nodes"),
        ),
        sa.ForeignKeyConstraint(
            ["to_node_id"],
            ["tenant.network_nodes.id"],
            name=op.f("fk_network_flows_to_node_id_network_nodes"),
        ),
        sa.ForeignKeyConstraint(
            ["point_id"], ["tenant.points.id"], name=op.f("fk_network_flows_point_id_points")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_flows")),
        sa.UniqueConstraint(
            "energy_type",
            "from_node_id",
            "to_node_id",
            name=op.f("uq_network_flows_energy_type"),
        ),
        sa.UniqueConstraint("point_id", name=op.f("uq_network_flows_point_id")),
        schema="tenant",
    )
    op.create_index(
        op.f("ix_network_flows_from_node_id"), "network_flows", ["from_node_id"], schema="tenant"
    )
    op.create_index(
        op.f("ix_network_flows_to_node_id"), "network_flows", ["to_node_id"], schema="tenant"
    )


def downgrade() -> None:
    op.drop_table("network_flows", schema="tenant")
    op.drop_table("network_nodes", schema="tenant")
