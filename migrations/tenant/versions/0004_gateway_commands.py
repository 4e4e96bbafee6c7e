"""gateway commands and their replies

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "gateway_commands",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("gateway_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("reply_ok", sa.Boolean(), nullable=True),
        sa.Column("reply_result", sa.JSON(), nullable=True),
        sa.Column("reply_error", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_commands")),
        schema="tenant",
    )
    op.create_index(
        op.f("ix_tenant_gateway_commands_gateway_id"),
        "gateway_commands",
        ["gateway_id"],
        unique=False,
        schema="tenant",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_tenant_gateway_commands_gateway_id"),
        table_name="gateway_commands",
        schema="tenant",
    )
    op.drop_table("gateway_commands", schema="tenant")
