"""reconciliation of gateways' completeness ledgers with stored readings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reconciliations",
        sa.Column("gateway_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("point_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("ledger_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("agent_count", sa.BigInteger(), nullable=True),
        sa.Column("agent_gaps", sa.BigInteger(), nullable=True),
        sa.Column("agent_digest", sa.String(length=16), nullable=True),
        sa.Column("stored_count", sa.BigInteger(), nullable=False),
        sa.Column("stored_digest", sa.String(length=16), nullable=False),
        sa.Column("duplicates", sa.BigInteger(), nullable=False),
        sa.Column("quarantined", sa.BigInteger(), nullable=False),
        sa.Column("lost", sa.BigInteger(), nullable=False),
        sa.Column("phantom", sa.BigInteger(), nullable=False),
        sa.Column("mismatched", sa.Boolean(), nullable=False),
        sa.Column("expected", sa.BigInteger(), nullable=False),
        sa.Column("received", sa.BigInteger(), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("gateway_id", "day", "code", name=op.f("pk_reconciliations")),
        schema="tenant",
    )
    op.create_index(
        op.f("ix_tenant_reconciliations_day"), "reconciliations", ["day"], schema="tenant"
    )
    op.create_index(
        op.f("ix_tenant_reconciliations_status"), "reconciliations", ["status"], schema="tenant"
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_tenant_reconciliations_status"), table_name="reconciliations", schema="tenant"
    )
    op.drop_index(
        op.f("ix_tenant_reconciliations_day"), table_name="reconciliations", schema="tenant"
    )
    op.drop_table("reconciliations", schema="tenant")
