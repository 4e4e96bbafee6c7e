"""Runs the two Alembic environments: the control schema, then every tenant schema.

Each tenant is upgraded in its own transaction, so a failing tenant leaves the
others upgraded and itself at its previous revision; the failure is reported
and the run exits non-zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine


def _config(migrations_dir: Path, env: str, connection: Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir / env))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade_control(engine: Engine, migrations_dir: Path, revision: str = "head") -> None:
    """Bring the control schema to ``revision``."""
    with engine.begin() as conn:
        command.upgrade(_config(migrations_dir, "control", conn), revision)


def upgrade_tenant(
    engine: Engine, migrations_dir: Path, schema: str, revision: str = "head"
) -> None:
    """Bring one tenant schema (a name from the registry) to ``revision``."""
    with engine.begin() as conn:
        cfg = _config(migrations_dir, "tenant", conn)
        cfg.attributes["tenant_schema"] = schema
        command.upgrade(cfg, revision)


@dataclass(frozen=True)
class TenantUpgradeResult:
    """The outcome of upgrading one tenant schema."""

    schema: str
    error: str | None = None


def upgrade_tenants(
    engine: Engine,
    migrations_dir: Path,
    schemas: Iterable[str],
    on_done: Callable[[TenantUpgradeResult], None] = lambda result: None,
) -> list[TenantUpgradeResult]:
    """Upgrade every schema in turn; one tenant's failure does not stop the others."""
    results = []
    for schema in schemas:
        try:
            upgrade_tenant(engine, migrations_dir, schema)
            result = TenantUpgradeResult(schema)
        except Exception as exc:  # noqa: BLE001 - reported per tenant, the run goes on
            result = TenantUpgradeResult(schema, error=f"{type(exc).__name__}: {exc}")
        results.append(result)
        on_done(result)
    return results


def tenant_revision(engine: Engine, schema: str) -> str | None:
    """The Alembic revision a tenant schema is at, or None before its first migration."""
    with engine.connect() as conn:
        exists = conn.execute(
            text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f'"{schema}".alembic_version'}
        ).scalar_one()
        if not exists:
            return None
        return conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).scalar()  # noqa: S608 - schema from the registry
