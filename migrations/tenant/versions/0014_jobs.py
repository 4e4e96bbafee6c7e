"""background jobs: long operations with their progress, outcome and files

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

T = "tenant"


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("input_filename", sa.String(200), nullable=True),
        sa.Column("input_file", sa.LargeBinary(), nullable=True),
        sa.Column("output_filename", sa.String(200), nullable=True),
        sa.Column("output_content_type", sa.String(100), nullable=True),
        sa.Column("output_file", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.String(254), nullable=False),
        _ts("created_at"),
        _ts("started_at", True),
        _ts("finished_at", True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_jobs_status")
        ),
        sa.CheckConstraint(
            "done >= 0 AND (total IS NULL OR total >= 0)", name=op.f("ck_jobs_progress")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        schema=T,
    )
    op.create_index("ix_jobs_created_at", "jobs", ["created_at"], schema=T)


def downgrade() -> None:
    op.drop_table("jobs", schema=T)
