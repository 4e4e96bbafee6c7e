"""Export of a tenant's data, and deletion (only after an export).

An export is a ``.tar.gz`` holding one CSV per table of the tenant's schema
(``COPY ... TO STDOUT``, the database's own faithful text form), the tenant's
control-plane rows (registry entry, memberships, clients, audit log) as JSON,
and a ``manifest.json`` with row counts and a SHA-256 per file. The archive is
written to the platform's data folder; object storage takes over in a later
issue.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ems.audit.models import AuditEntry
from ems.db import utcnow
from ems.errors import Conflict, InvalidInput
from ems.migrate import tenant_revision
from ems_tenants.models import (
    Membership,
    OAuthClient,
    Tenant,
    TenantExport,
    TenantStatus,
)

FORMAT_VERSION = 1


def _row(obj: Any, exclude: frozenset[str] = frozenset()) -> dict[str, Any]:
    out = {}
    for attr in sa_inspect(type(obj)).column_attrs:
        if attr.key in exclude:
            continue
        value = getattr(obj, attr.key)
        out[attr.key] = value.isoformat() if isinstance(value, datetime) else value
    return out


def _tables(engine: Engine, schema: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                # Plain and partitioned tables, not the partitions: a partitioned table's
                # rows (readings by month) are exported once, through their parent.
                text(
                    "SELECT c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s "
                    "AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
                    "ORDER BY c.relname"
                ),
                {"s": schema},
            ).scalars()
        )


def _copy_out(engine: Engine, schema: str, table: str) -> tuple[bytes, int]:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        buf = io.BytesIO()
        # Identifiers come from information_schema for a schema named by the registry.
        # COPY (SELECT ...): COPY of a partitioned table itself is refused.
        sql = f'COPY (SELECT * FROM "{schema}"."{table}") TO STDOUT WITH (FORMAT csv, HEADER)'  # noqa: S608
        with cursor.copy(sql) as copy:
            for chunk in copy:
                buf.write(chunk)
        raw.commit()
    finally:
        raw.close()
    data = buf.getvalue()
    return data, _count_csv_rows(data)


def _count_csv_rows(data: bytes) -> int:
    return max(sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8")))) - 1, 0)


def _control_rows(session: Session, tenant: Tenant) -> dict[str, list[dict[str, Any]]]:
    return {
        "tenant": [_row(tenant)],
        "memberships": [
            {**_row(m), "email": m.user.email}
            for m in session.scalars(select(Membership).where(Membership.tenant_id == tenant.id))
        ],
        "oauth_clients": [
            _row(c, frozenset({"secret_hash"}))
            for c in session.scalars(select(OAuthClient).where(OAuthClient.tenant_id == tenant.id))
        ],
        "audit_log": [
            _row(a)
            for a in session.scalars(
                select(AuditEntry).where(AuditEntry.tenant_id == tenant.id).order_by(AuditEntry.id)
            )
        ],
    }


def _add(tar: tarfile.TarFile, name: str, data: bytes, at: datetime) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(at.timestamp())
    tar.addfile(info, io.BytesIO(data))


@dataclass(frozen=True)
class ExportResult:
    """Where an export was written and what it holds."""

    export: TenantExport
    path: Path


def export_tenant(
    session: Session, engine: Engine, tenant: Tenant, exports_dir: Path
) -> ExportResult:
    """Write a complete archive of ``tenant`` and record it (does not commit)."""
    if tenant.schema_name is None or tenant.status == TenantStatus.DELETED:
        raise Conflict("this tenant has no data to export")
    at = utcnow()
    files: dict[str, bytes] = {}
    counts: dict[str, int] = {}
    for table in _tables(engine, tenant.schema_name):
        if table == "alembic_version":
            continue
        files[f"schema/{table}.csv"], counts[table] = _copy_out(engine, tenant.schema_name, table)
    for name, rows in _control_rows(session, tenant).items():
        files[f"control/{name}.json"] = json.dumps(rows, ensure_ascii=False, indent=1).encode()
        counts[f"control.{name}"] = len(rows)
    manifest = {
        "format_version": FORMAT_VERSION,
        "tenant": tenant.slug,
        "schema": tenant.schema_name,
        "schema_revision": tenant_revision(engine, tenant.schema_name),
        "exported_at": at.isoformat(),
        "row_counts": counts,
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in files.items()},
    }
    target_dir = exports_dir / tenant.slug
    target_dir.mkdir(parents=True, exist_ok=True)
    path = target_dir / f"{tenant.slug}-{at.strftime('%Y%m%dT%H%M%S%fZ')}.tar.gz"
    tmp = path.with_suffix(".partial")
    with tarfile.open(tmp, "w:gz") as tar:
        _add(tar, "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode(), at)
        for name, data in files.items():
            _add(tar, name, data, at)
    tmp.rename(path)  # an archive either exists whole or not at all
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    record = TenantExport(
        tenant_id=tenant.id,
        path=str(path),
        sha256=digest,
        size_bytes=path.stat().st_size,
        row_counts=counts,
        created_at=at,
    )
    session.add(record)
    session.flush()
    return ExportResult(record, path)


def delete_tenant(session: Session, engine: Engine, tenant: Tenant, confirm: str) -> None:
    """Drop a tenant's schema for good.

    Only for a suspended tenant with an export taken after its suspension (so
    the archive holds everything), and only when ``confirm`` repeats the slug.
    The registry row stays, marked deleted, for the audit trail.
    """
    if confirm != tenant.slug:
        raise InvalidInput(
            "deletion not confirmed", fields={"confirm": ["repeat the tenant's slug exactly"]}
        )
    if tenant.status != TenantStatus.SUSPENDED or tenant.suspended_at is None:
        raise Conflict("suspend the tenant and export it before deleting it")
    latest = session.scalar(
        select(TenantExport)
        .where(TenantExport.tenant_id == tenant.id)
        .order_by(TenantExport.created_at.desc())
        .limit(1)
    )
    if latest is None or latest.created_at < tenant.suspended_at or not Path(latest.path).exists():
        raise Conflict("no export taken since the suspension; export the tenant first")
    schema = tenant.schema_name
    if schema:
        session.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    for membership in session.scalars(select(Membership).where(Membership.tenant_id == tenant.id)):
        session.delete(membership)
    for client in session.scalars(select(OAuthClient).where(OAuthClient.tenant_id == tenant.id)):
        client.revoked_at = client.revoked_at or utcnow()
    tenant.status = TenantStatus.DELETED
    tenant.deleted_at = utcnow()
    tenant.schema_name = None
