"""Reminders API: ``/api/v1/tenants/<slug>/reminders`` and ``.../reminder-settings``.

Reminders are created by the daily job (``send_reminders_all_tenants``), not here;
members read them and operators acknowledge them.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import select

from ems.auth.permissions import Permission
from ems.reminders import services
from ems.reminders.models import Reminder
from ems.reminders.schemas import (
    ReminderQuerySchema,
    ReminderSchema,
    ReminderSettingSchema,
    ReminderSettingsInputSchema,
)
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import requires, tenant_blueprint

blp = tenant_blueprint("reminders", __name__, description="Reminders of what falls due")


@blp.route("/reminders")
@blp.arguments(ReminderQuerySchema, location="query")
@blp.response(200, ReminderSchema(many=True))
@blp.paginate()
def reminders(query: dict[str, Any], pagination_parameters: Any) -> list[Reminder]:
    """List reminders, soonest due first (filter by kind, subject, due dates, acknowledged)."""
    stmt = select(Reminder).order_by(Reminder.due, Reminder.id)
    for name in ("kind", "subject_type", "subject_id"):
        if name in query:
            stmt = stmt.where(getattr(Reminder, name) == query[name])
    if "acknowledged" in query:
        done = Reminder.acknowledged_at.is_not(None)
        stmt = stmt.where(done if query["acknowledged"] else ~done)
    if "due_from" in query:
        stmt = stmt.where(Reminder.due >= query["due_from"])
    if "due_to" in query:
        stmt = stmt.where(Reminder.due <= query["due_to"])
    return paginate(db(), stmt, pagination_parameters)


@blp.route("/reminders/<int:reminder_id>/acknowledge", methods=["POST"])
@requires(Permission.DATA_WRITE)
@blp.response(200, ReminderSchema)
def acknowledge(reminder_id: int) -> Reminder:
    """Acknowledge a reminder (again: no change)."""
    return services.acknowledge(db(), services.access_reminder(db(), reminder_id))


@blp.route("/reminder-settings")
class Settings(MethodView):
    """Lead times of the reminder kinds."""

    @blp.response(200, ReminderSettingSchema(many=True))
    def get(self) -> list[dict[str, Any]]:
        """Every kind of reminder with its lead time in days (default 30)."""
        return services.settings(db())

    @blp.arguments(ReminderSettingsInputSchema)
    @blp.response(200, ReminderSettingSchema(many=True))
    def put(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """Set the lead time of the kinds listed; answers every kind."""
        services.set_lead_days(db(), data["settings"])
        return services.settings(db())
