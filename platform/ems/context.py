"""Who is acting, for which tenant, in which request: carried in context variables.

The web layer, the CLI and the worker middleware set these; the audit log and
the worker middleware read them. Context variables follow threads and tasks, so
concurrent requests never see each other's values.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Whoever causes a write: a user, an API client, a CLI operator or a worker."""

    kind: str  # user | client | cli | worker | system
    id: str
    name: str


@dataclass(frozen=True)
class TenantRef:
    """The tenant a unit of work is bound to (looked up in the registry)."""

    id: int
    slug: str
    schema_name: str


SYSTEM = Actor(kind="system", id="system", name="system")

current_actor: ContextVar[Actor] = ContextVar("current_actor", default=SYSTEM)
current_tenant: ContextVar[TenantRef | None] = ContextVar("current_tenant", default=None)
current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)
