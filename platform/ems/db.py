"""Database access: the two declarative bases and tenant-bound sessions.

Control-plane tables live in the ``control`` schema. Tenant tables are declared
in a placeholder schema named ``tenant`` and every tenant session maps it to
the tenant's real schema with ``schema_translate_map``. The mapping is an
execution option of the session's bind, so it travels with each statement and
cannot leak to the next user of a pooled connection (a ``SET search_path``
would). One ORM session per tenant: the identity map would otherwise confuse
equal primary keys from two schemas.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

CONTROL_SCHEMA = "control"
TENANT_SCHEMA = "tenant"  # placeholder; never exists in the database

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A ``timestamptz`` column that refuses naive datetimes.

    A naive datetime has no meaning on a platform whose tenants sit in several
    time zones, so writing one is a programming error, not something to guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime written to a timestamptz column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return None if value is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class ControlBase(DeclarativeBase):
    """Base of the shared control-plane tables (schema ``control``)."""

    metadata = MetaData(schema=CONTROL_SCHEMA, naming_convention=NAMING)


class TenantBase(DeclarativeBase):
    """Base of the per-tenant tables (placeholder schema, translated per session)."""

    metadata = MetaData(schema=TENANT_SCHEMA, naming_convention=NAMING)


class Database:
    """Owns the engine and hands out control or tenant sessions."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        from ems.models import load_all_models

        # Every process that touches the database gets complete metadata and the
        # audit listeners, whichever entry point (API, CLI, worker) it came from.
        load_all_models()
        self.url = url
        self.engine: Engine = create_engine(
            url, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size
        )

    def session(self, tenant_schema: str | None = None) -> Session:
        """A new session; bound to ``tenant_schema`` when given.

        ``tenant_schema`` must come from the tenant registry, never from input.
        """
        bind: Engine = self.engine
        if tenant_schema is not None:
            bind = self.engine.execution_options(
                schema_translate_map={TENANT_SCHEMA: tenant_schema}
            )
        return Session(bind=bind, expire_on_commit=False)

    @contextmanager
    def transaction(self, tenant_schema: str | None = None) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on error.

        For CLI commands and actors: the boundary that commits, so that the
        services it calls never have to.
        """
        session = self.session(tenant_schema)
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection (tests, process shutdown)."""
        self.engine.dispose()


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (``postgresql+psycopg://``) as a libpq one, for plain psycopg."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)
