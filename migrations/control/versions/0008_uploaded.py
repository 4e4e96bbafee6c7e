"""what platforms accepted, for regulators: figures, day statistics, submissions

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

C = "control"


def upgrade() -> None:
    op.create_table(
        "uploaded_figures",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("stat_type", sa.SmallInteger(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.Numeric(24, 8), nullable=False),
        sa.Column("scope", sa.SmallInteger(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], [f"{C}.tenants.id"], name=op.f("fk_uploaded_figures_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id",
            "profile",
            "code",
            "stat_type",
            "period_start",
            "version",
            name=op.f("pk_uploaded_figures"),
        ),
        schema=C,
    )
    op.create_index(
        "ix_uploaded_figures_tenant_id_period",
        "uploaded_figures",
        ["tenant_id", "stat_type", "period_start"],
        schema=C,
    )
    op.create_table(
        "upload_day_stats",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("expected", sa.Integer(), nullable=False),
        sa.Column("uploaded", sa.Integer(), nullable=False),
        sa.Column("on_time", sa.Integer(), nullable=False),
        sa.Column("failed_requests", sa.Integer(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], [f"{C}.tenants.id"], name=op.f("fk_upload_day_stats_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "profile", "day", name=op.f("pk_upload_day_stats")),
        schema=C,
    )
    op.create_table(
        "uploaded_submissions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            [f"{C}.tenants.id"],
            name=op.f("fk_uploaded_submissions_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploaded_submissions")),
        schema=C,
    )
    op.create_index(
        op.f("ix_control_uploaded_submissions_tenant_id"),
        "uploaded_submissions",
        ["tenant_id"],
        schema=C,
    )


def downgrade() -> None:
    for table in ("uploaded_submissions", "upload_day_stats", "uploaded_figures"):
        op.drop_table(table, schema=C)
