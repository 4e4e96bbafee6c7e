"""metering personnel (table A.2) and their documents

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metering_personnel",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("sex", sa.String(length=8), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("position", sa.String(length=100), nullable=True),
        sa.Column("professional_title", sa.String(length=50), nullable=True),
        sa.Column("education", sa.String(length=50), nullable=True),
        sa.Column("school", sa.String(length=100), nullable=True),
        sa.Column("qualification", sa.String(length=200), nullable=True),
        sa.Column("certificate_number", sa.String(length=64), nullable=True),
        sa.Column("training", sa.String(length=500), nullable=True),
        sa.Column("training_body", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("remarks", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "sex IS NULL OR sex IN ('male', 'female')", name=op.f("ck_metering_personnel_sex")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metering_personnel")),
        schema="tenant",
    )
    op.create_index(
        "uq_metering_personnel_certificate_number",
        "metering_personnel",
        ["certificate_number"],
        unique=True,
        schema="tenant",
    )
    op.create_table(
        "personnel_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("certificate_number", sa.String(length=64), nullable=True),
        sa.Column("issued", sa.Date(), nullable=True),
        sa.Column("expires", sa.Date(), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=300), nullable=False),
        sa.Column("uploaded_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('archive', 'qualification', 'training')",
            name=op.f("ck_personnel_documents_kind"),
        ),
        sa.CheckConstraint(
            "expires IS NULL OR issued IS NULL OR expires >= issued",
            name=op.f("ck_personnel_documents_dates"),
        ),
        sa.CheckConstraint("size > 0", name=op.f("ck_personnel_documents_size_positive")),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["tenant.metering_personnel.id"],
            name=op.f("fk_personnel_documents_person_id_metering_personnel"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_personnel_documents")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_personnel_documents_storage_key")),
        schema="tenant",
    )
    op.create_index(
        "ix_personnel_documents_expires", "personnel_documents", ["expires"], schema="tenant"
    )
    op.create_index(
        op.f("ix_tenant_personnel_documents_person_id"),
        "personnel_documents",
        ["person_id"],
        schema="tenant",
    )


def downgrade() -> None:
    op.drop_table("personnel_documents", schema="tenant")
    op.drop_table("metering_personnel", schema="tenant")
