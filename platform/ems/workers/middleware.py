"""Carries the tenant of a message from the sender to the actor.

When a message is enqueued inside a tenant-bound request or actor, the
tenant's slug goes into the message options. The worker looks the slug up in
the registry again before running the actor (the tenant may have been
suspended or deleted since) and binds it for the actor's duration, so
``tenant_transaction()`` opens a session on the right schema and the audit log
knows the tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import SkipMessage
from sqlalchemy import select

from ems.context import Actor, TenantRef, current_actor, current_tenant
from ems.db import Database

log = logging.getLogger(__name__)

TENANT_OPTION = "ems_tenant"


def _registry_lookup(slug: str) -> TenantRef | None:
    from ems.workers.runtime import database
    from ems_tenants.models import Tenant, TenantStatus

    db: Database = database()
    with db.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None or tenant.schema_name is None or tenant.status != TenantStatus.ACTIVE:
            return None
        return TenantRef(id=tenant.id, slug=tenant.slug, schema_name=tenant.schema_name)


class TenantMiddleware(dramatiq.Middleware):
    """Puts the current tenant into messages and binds it around their processing."""

    def __init__(self, lookup: Callable[[str], TenantRef | None] = _registry_lookup) -> None:
        self.lookup = lookup
        self._tokens: dict[str, tuple[Any, Any]] = {}

    def before_enqueue(self, broker: Any, message: Any, delay: Any) -> None:
        tenant = current_tenant.get()
        if tenant is not None and TENANT_OPTION not in message.options:
            message.options[TENANT_OPTION] = tenant.slug

    def before_process_message(self, broker: Any, message: Any) -> None:
        slug = message.options.get(TENANT_OPTION)
        tenant = None
        if slug is not None:
            tenant = self.lookup(slug)
            if tenant is None:
                log.warning("skipping %s: tenant %r is not active", message.actor_name, slug)
                raise SkipMessage(f"tenant {slug!r} is not active")
        actor = Actor(kind="worker", id=message.message_id, name=message.actor_name)
        self._tokens[message.message_id] = (current_tenant.set(tenant), current_actor.set(actor))

    def _reset(self, message: Any) -> None:
        tokens = self._tokens.pop(message.message_id, None)
        if tokens is not None:
            current_tenant.reset(tokens[0])
            current_actor.reset(tokens[1])

    def after_process_message(
        self, broker: Any, message: Any, *, result: Any = None, exception: Any = None
    ) -> None:
        self._reset(message)

    def after_skip_message(self, broker: Any, message: Any) -> None:
        self._reset(message)
