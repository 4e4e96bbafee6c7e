"""meter ledger (table A.1), verification records, reminders

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = "('normal', 'faulty', 'out_of_service')"
RESULTS = "('pass', 'fail')"


def _meters() -> None:
    op.create_table(
        "meters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type_code", sa.String(length=7), nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("parameters", sa.String(length=200), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("accuracy_class", sa.String(length=32), nullable=True),
        sa.Column("measuring_range", sa.String(length=100), nullable=True),
        sa.Column("manufacturer", sa.String(length=200), nullable=True),
        sa.Column("management_number", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("installed_by", sa.SmallInteger(), nullable=True),
        sa.Column("installed_on", sa.Date(), nullable=True),
        sa.Column("connected_system", sa.SmallInteger(), nullable=True),
        sa.Column("gateway_id", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("state_since", sa.Date(), nullable=True),
        sa.Column("verification_result", sa.String(length=8), nullable=True),
        sa.Column("verification_body", sa.String(length=200), nullable=True),
        sa.Column("interval_months", sa.SmallInteger(), nullable=True),
        sa.Column("last_verified_on", sa.Date(), nullable=True),
        sa.Column("next_due_on", sa.Date(), nullable=True),
        sa.Column("next_due_overridden", sa.Boolean(), nullable=False),
        sa.Column("not_verified_reason", sa.Text(), nullable=True),
        sa.Column("energy_type", sa.String(length=32), nullable=True),
        sa.Column("ct_ratio", sa.Numeric(), nullable=True),
        sa.Column("pt_ratio", sa.Numeric(), nullable=True),
        sa.Column("factory_number", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("level IN (1, 2, 3)", name=op.f("ck_meters_level")),
        sa.CheckConstraint(
            "installed_by IS NULL OR installed_by IN (1, 2, 3)",
            name=op.f("ck_meters_installed_by"),
        ),
        sa.CheckConstraint(
            "connected_system IS NULL OR connected_system IN (1, 2)",
            name=op.f("ck_meters_connected_system"),
        ),
        sa.CheckConstraint(f"state IN {STATES}", name=op.f("ck_meters_state")),
        sa.CheckConstraint(
            f"verification_result IS NULL OR verification_result IN {RESULTS}",
            name=op.f("ck_meters_verification_result"),
        ),
        sa.CheckConstraint(
            "interval_months IS NULL OR interval_months > 0", name=op.f("ck_meters_interval")
        ),
        sa.CheckConstraint(
            "type_code IS NULL OR type_code ~ '^[0-9]{7}$'", name=op.f("ck_meters_type_code")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["tenant.sites.id"], name=op.f("fk_meters_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["tenant.units.id"], name=op.f("fk_meters_unit_id_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meters")),
        sa.UniqueConstraint("management_number", name=op.f("uq_meters_management_number")),
        schema="tenant",
    )
    for column in ("type_code", "site_id", "unit_id", "next_due_on"):
        op.create_index(op.f(f"ix_tenant_meters_{column}"), "meters", [column], schema="tenant")


def _records() -> None:
    op.create_table(
        "meter_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"state IN {STATES}", name=op.f("ck_meter_states_state")),
        sa.ForeignKeyConstraint(
            ["meter_id"],
            ["tenant.meters.id"],
            name=op.f("fk_meter_states_meter_id_meters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_states")),
        schema="tenant",
    )
    op.create_index("ix_meter_states_meter", "meter_states", ["meter_id", "id"], schema="tenant")
    op.create_table(
        "meter_verifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("performed_on", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("result", sa.String(length=8), nullable=False),
        sa.Column("body", sa.String(length=200), nullable=True),
        sa.Column("certificate_number", sa.String(length=64), nullable=True),
        sa.Column("next_due_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('verification', 'calibration')", name=op.f("ck_meter_verifications_kind")
        ),
        sa.CheckConstraint(f"result IN {RESULTS}", name=op.f("ck_meter_verifications_result")),
        sa.ForeignKeyConstraint(
            ["meter_id"],
            ["tenant.meters.id"],
            name=op.f("fk_meter_verifications_meter_id_meters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_verifications")),
        schema="tenant",
    )
    op.create_index(
        "ix_meter_verifications_meter",
        "meter_verifications",
        ["meter_id", "performed_on"],
        schema="tenant",
    )


def _links() -> None:
    op.create_table(
        "meter_points",
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("linked_by", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"],
            ["tenant.meters.id"],
            name=op.f("fk_meter_points_meter_id_meters"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["point_id"],
            ["tenant.points.id"],
            name=op.f("fk_meter_points_point_id_points"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("point_id", name=op.f("pk_meter_points")),
        schema="tenant",
    )
    op.create_index(
        op.f("ix_tenant_meter_points_meter_id"), "meter_points", ["meter_id"], schema="tenant"
    )
    op.create_table(
        "meter_exchanges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("old_factory_number", sa.String(length=64), nullable=True),
        sa.Column("new_factory_number", sa.String(length=64), nullable=True),
        sa.Column("old_model", sa.String(length=200), nullable=True),
        sa.Column("new_model", sa.String(length=200), nullable=True),
        sa.Column("replacement_ids", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["meter_id"],
            ["tenant.meters.id"],
            name=op.f("fk_meter_exchanges_meter_id_meters"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meter_exchanges")),
        schema="tenant",
    )
    op.create_index(
        op.f("ix_tenant_meter_exchanges_meter_id"),
        "meter_exchanges",
        ["meter_id"],
        schema="tenant",
    )


def _reminders() -> None:
    op.create_table(
        "reminders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject_type", sa.String(length=32), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=254), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminders")),
        # The key that makes the daily job create each reminder exactly once.
        sa.UniqueConstraint(
            "kind", "subject_type", "subject_id", "due", name="uq_reminders_subject_due"
        ),
        schema="tenant",
    )
    op.create_index("ix_reminders_due", "reminders", ["due"], schema="tenant")
    op.create_table(
        "reminder_settings",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("lead_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "lead_days BETWEEN 0 AND 366", name=op.f("ck_reminder_settings_lead_days")
        ),
        sa.PrimaryKeyConstraint("kind", name=op.f("pk_reminder_settings")),
        schema="tenant",
    )


def upgrade() -> None:
    _meters()
    _records()
    _links()
    _reminders()


def downgrade() -> None:
    op.drop_table("reminder_settings", schema="tenant")
    op.drop_index("ix_reminders_due", table_name="reminders", schema="tenant")
    op.drop_table("reminders", schema="tenant")
    op.drop_table("meter_exchanges", schema="tenant")
    op.drop_table("meter_points", schema="tenant")
    op.drop_table("meter_verifications", schema="tenant")
    op.drop_table("meter_states", schema="tenant")
    op.drop_table("meters", schema="tenant")
