"""What the ingest needs to know about gateways and points, cached per process.

The gateway registry (control schema) says which tenant schema a gateway's
topics belong to and which keys verify its payloads; the point catalogue
(tenant schema) says which point codes a gateway may send and their limits.
Both are reloaded periodically, and at once (rate-limited) when a message names
something not yet known, so a gateway or point registered a moment ago is
accepted without a restart, and a flood of unknown names cannot hammer the
database.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg import sql

REFRESH_SECONDS = 30.0
MISS_INTERVAL = 5.0  # the least time between two reloads caused by unknown names


@dataclass(frozen=True, slots=True)
class GatewayInfo:
    """A registered gateway as the ingest sees it."""

    id: str
    tenant_id: int
    schema: str
    active: bool
    keys: tuple[Ed25519PublicKey, ...]  # the current key first, then one still in its grace
    retention_days: int


@dataclass(frozen=True, slots=True)
class PointInfo:
    """A point's id and business limits."""

    id: int
    cumulative: bool
    min_value: float | None
    max_value: float | None


def _key(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(text))


class Registry:
    """Gateways and their points, loaded from the database through ``connect``."""

    def __init__(
        self, connect: Callable[[], psycopg.Connection], clock: Callable[[], float] = time.time
    ) -> None:
        self._connect = connect
        self._clock = clock
        self._lock = threading.Lock()
        self._gateways: dict[str, GatewayInfo] = {}
        self._gateways_at = -1e18
        self._gateway_miss_at = -1e18
        self._points: dict[str, dict[str, PointInfo]] = {}
        self._points_at: dict[str, float] = {}
        self._points_miss_at: dict[str, float] = {}

    # -- gateways ---------------------------------------------------------------------------

    def gateway(self, gateway_id: str) -> GatewayInfo | None:
        """The gateway, or None when it is not registered (even after a reload)."""
        now = time.monotonic()
        with self._lock:
            if now - self._gateways_at > REFRESH_SECONDS:
                self._load_gateways(now)
            info = self._gateways.get(gateway_id)
            if info is None and now - self._gateway_miss_at > MISS_INTERVAL:
                self._gateway_miss_at = now
                self._load_gateways(now)
                info = self._gateways.get(gateway_id)
            return info

    def _load_gateways(self, now: float) -> None:
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT g.id, g.tenant_id, t.schema_name, g.status = 'active' "
                "AND t.status IN ('active', 'suspended'), g.public_key, g.previous_public_key, "
                "g.previous_key_valid_until, p.retention_days "
                "FROM control.gateways g JOIN control.tenants t ON t.id = g.tenant_id "
                "JOIN control.plans p ON p.id = t.plan_id WHERE t.schema_name IS NOT NULL"
            ).fetchall()
        wall = datetime.fromtimestamp(self._clock()).astimezone()
        gateways = {}
        for gid, tenant_id, schema, active, key, previous, until, retention in rows:
            keys = [_key(key)]
            if previous and until and until > wall:
                keys.append(_key(previous))
            gateways[gid] = GatewayInfo(gid, tenant_id, schema, active, tuple(keys), retention)
        self._gateways = gateways
        self._gateways_at = now

    # -- points -----------------------------------------------------------------------------

    def points(self, gateway: GatewayInfo, codes: set[str]) -> dict[str, PointInfo]:
        """The gateway's point catalogue, reloaded first if it lacks some of ``codes``."""
        now = time.monotonic()
        with self._lock:
            catalogue = self._points.get(gateway.id)
            stale = now - self._points_at.get(gateway.id, -1e18) > REFRESH_SECONDS
            missing = catalogue is not None and not codes <= catalogue.keys()
            may_retry = now - self._points_miss_at.get(gateway.id, -1e18) > MISS_INTERVAL
            if catalogue is None or stale or (missing and may_retry):
                if missing:
                    self._points_miss_at[gateway.id] = now
                catalogue = self._load_points(gateway)
                self._points[gateway.id] = catalogue
                self._points_at[gateway.id] = now
            return catalogue

    def _load_points(self, gateway: GatewayInfo) -> dict[str, PointInfo]:
        query = sql.SQL(
            "SELECT code, id, kind = 'cumulative', min_value, max_value FROM {}.points "
            "WHERE gateway_id = %s"
        ).format(sql.Identifier(gateway.schema))
        with self._connect() as conn:
            rows = conn.execute(query, (gateway.id,)).fetchall()
        return {code: PointInfo(pid, cum, lo, hi) for code, pid, cum, lo, hi in rows}

    def forget(self) -> None:
        """Drop every cached entry (tests; after a registry change the caller knows of)."""
        with self._lock:
            self._gateways_at = -1e18
            self._gateway_miss_at = -1e18
            self._points.clear()
            self._points_at.clear()
            self._points_miss_at.clear()
