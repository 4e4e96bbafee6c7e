"""Process-wide resources of a worker or scheduler process, created on first use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from sqlalchemy.orm import Session

from ems.config import load_settings
from ems.context import current_tenant
from ems.db import Database
from ems.errors import EmsError


@cache
def database() -> Database:
    """The worker's database (one pool per process)."""
    return Database(load_settings().database_url, pool_size=5)


@contextmanager
def tenant_transaction() -> Iterator[Session]:
    """A session on the tenant bound to the current message; commits on success.

    This is the actor boundary: services called inside never commit.
    """
    tenant = current_tenant.get()
    if tenant is None:
        raise EmsError("this actor needs a tenant; send it from a tenant context")
    with database().transaction(tenant.schema_name) as session:
        yield session
