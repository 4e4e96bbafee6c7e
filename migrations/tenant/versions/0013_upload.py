"""provincial upload: registrations, dictionaries, code mappings, outbox, request log

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

T = "tenant"
SOURCES = (
    "'category', 'point', 'comprehensive', 'output', 'output_value', 'value_added',"
    " 'unit_consumption'"
)


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "upload_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(32), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("enterprise_code", sa.String(18), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("realtime_minutes", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("secret_key", sa.LargeBinary(), nullable=True),
        sa.Column("pin", sa.LargeBinary(), nullable=True),
        sa.Column("client_p12", sa.LargeBinary(), nullable=True),
        sa.Column("client_p12_password", sa.LargeBinary(), nullable=True),
        sa.Column("server_ca_pem", sa.Text(), nullable=True),
        sa.Column("urls", sa.JSON(), nullable=False),
        sa.Column("upload_time", sa.String(8), nullable=True),
        sa.Column("reg_version", sa.String(32), nullable=True),
        sa.Column("dic_version", sa.String(32), nullable=True),
        _ts("checked_at", True),
        _ts("registered_at", True),
        sa.Column("access_key", sa.LargeBinary(), nullable=True),
        _ts("access_key_expires_at", True),
        _ts("backoff_until", True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        _ts("realtime_queued_to", True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(
            "realtime_minutes BETWEEN 1 AND 60",
            name=op.f("ck_upload_registrations_realtime_minutes"),
        ),
        sa.CheckConstraint(
            "status IN ('new', 'registered', 'failed')", name=op.f("ck_upload_registrations_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_registrations")),
        sa.UniqueConstraint("profile", name=op.f("uq_upload_registrations_profile")),
        schema=T,
    )
    op.create_table(
        "upload_dictionary_versions",
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        _ts("downloaded_at"),
        sa.Column("items", sa.SmallInteger(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            [f"{T}.upload_registrations.id"],
            name=op.f("fk_upload_dictionary_versions_registration_id"),
        ),
        sa.PrimaryKeyConstraint(
            "registration_id", "version", name=op.f("pk_upload_dictionary_versions")
        ),
        schema=T,
    )
    op.create_table(
        "upload_dictionary_entries",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("item", sa.SmallInteger(), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("parent", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(32), nullable=True),
        sa.Column("precision", sa.SmallInteger(), nullable=True),
        sa.Column("coefficient", sa.Numeric(18, 8), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            [f"{T}.upload_registrations.id"],
            name=op.f("fk_upload_dictionary_entries_registration_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_dictionary_entries")),
        sa.UniqueConstraint(
            "registration_id",
            "version",
            "item",
            "parent",
            "code",
            name=op.f("uq_upload_dictionary_entries_registration_id"),
        ),
        schema=T,
    )
    op.create_table(
        "upload_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scope", sa.SmallInteger(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("equipment_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(24), nullable=False),
        sa.Column("energy_type", sa.String(32), nullable=True),
        sa.Column("point_id", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("input_type", sa.SmallInteger(), nullable=False),
        sa.Column("realtime", sa.Boolean(), nullable=False),
        sa.Column("day", sa.Boolean(), nullable=False),
        sa.Column("month", sa.Boolean(), nullable=False),
        sa.Column("year", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint("code ~ '^[0-9]{16}$'", name=op.f("ck_upload_codes_code_digits")),
        sa.CheckConstraint("scope BETWEEN 1 AND 4", name=op.f("ck_upload_codes_scope")),
        sa.CheckConstraint("input_type BETWEEN 1 AND 5", name=op.f("ck_upload_codes_input_type")),
        sa.CheckConstraint(f"source IN ({SOURCES})", name=op.f("ck_upload_codes_source")),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            [f"{T}.upload_registrations.id"],
            name=op.f("fk_upload_codes_registration_id_upload_registrations"),
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], [f"{T}.units.id"], name=op.f("fk_upload_codes_unit_id_units")
        ),
        sa.ForeignKeyConstraint(
            ["equipment_id"],
            [f"{T}.equipment.id"],
            name=op.f("fk_upload_codes_equipment_id_equipment"),
        ),
        sa.ForeignKeyConstraint(
            ["point_id"], [f"{T}.points.id"], name=op.f("fk_upload_codes_point_id_points")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], [f"{T}.products.id"], name=op.f("fk_upload_codes_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_codes")),
        sa.UniqueConstraint(
            "registration_id", "code", name=op.f("uq_upload_codes_registration_id")
        ),
        schema=T,
    )
    op.create_table(
        "upload_items",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("code_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("stat_type", sa.SmallInteger(), nullable=False),
        _ts("period_start"),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("value", sa.Numeric(24, 8), nullable=True),
        sa.Column("input_type", sa.SmallInteger(), nullable=False),
        sa.Column("scope", sa.SmallInteger(), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column("flags", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _ts("queued_at"),
        _ts("last_attempt_at", True),
        _ts("accepted_at", True),
        _ts("due_at"),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'correction', 'superseded')",
            name=op.f("ck_upload_items_status"),
        ),
        sa.CheckConstraint("stat_type BETWEEN 0 AND 3", name=op.f("ck_upload_items_stat_type")),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            [f"{T}.upload_registrations.id"],
            name=op.f("fk_upload_items_registration_id_upload_registrations"),
        ),
        sa.ForeignKeyConstraint(
            ["code_id"],
            [f"{T}.upload_codes.id"],
            name=op.f("fk_upload_items_code_id_upload_codes"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_items")),
        sa.UniqueConstraint(
            "registration_id",
            "code",
            "stat_type",
            "period_start",
            "version",
            name=op.f("uq_upload_items_registration_id"),
        ),
        schema=T,
    )
    op.create_index(
        "ix_upload_items_registration_id_status",
        "upload_items",
        ["registration_id", "status", "period_start"],
        schema=T,
    )
    op.create_table(
        "upload_requests",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        _ts("at"),
        sa.Column("endpoint", sa.String(16), nullable=False),
        sa.Column("url", sa.String(500), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("item_ids", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("http_status", sa.SmallInteger(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("response_code", sa.String(32), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("request_excerpt", sa.Text(), nullable=True),
        sa.Column("response_excerpt", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            [f"{T}.upload_registrations.id"],
            name=op.f("fk_upload_requests_registration_id_upload_registrations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_requests")),
        schema=T,
    )
    op.create_index(
        "ix_upload_requests_registration_id_at",
        "upload_requests",
        ["registration_id", "at"],
        schema=T,
    )
    op.create_index(
        op.f("ix_tenant_upload_requests_outcome"), "upload_requests", ["outcome"], schema=T
    )


def downgrade() -> None:
    for table in (
        "upload_requests",
        "upload_items",
        "upload_codes",
        "upload_dictionary_entries",
        "upload_dictionary_versions",
        "upload_registrations",
    ):
        op.drop_table(table, schema=T)
