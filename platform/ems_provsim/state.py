"""Everything the simulated platform remembers, in memory behind one lock.

Accounts (opened by :meth:`PlatformState.provision` or by an open registration), issued access
keys, the active fault, the dictionaries, and what was observed: accepted rows, information and
meter-ledger uploads, and a log of every request.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from ems_provsim.dictionaries import Dictionaries, load_dictionaries
from ems_provsim.errors import Refusal

FAULT_MODES = ("none", "5xx", "timeout", "decrypt", "device")
DEVICE_MISMATCH = "序列号与企业统一社会信用代码不符"
ACCESS_KEY_INVALID = "访问密钥无效或已过期"
REG_VERSION = 1


@dataclass
class Account:
    """One enterprise's account on the platform; ``device_id`` is set once it has registered."""

    enterprise_code: str
    region: str
    pin: str
    device_id: str | None = None
    secret_key: str | None = None

    @property
    def upload_time(self) -> str:
        """The daily batch time assigned: fixed per enterprise, spread over 01:00-05:59."""
        digest = int.from_bytes(hashlib.sha256(self.enterprise_code.encode()).digest()[:4], "big")
        minutes = 60 + digest % (5 * 60)
        return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


@dataclass(frozen=True)
class Fault:
    """The fault to play on a request: its mode and, for "timeout", how long to stall."""

    mode: str
    delay: float


def now() -> datetime:
    """The time stamps of the observations (UTC)."""
    return datetime.now(UTC)


class PlatformState:
    """The platform's memory. Every method takes the lock; nothing returned is shared."""

    def __init__(self, *, access_key_ttl: int = 7200, record_path: Path | None = None) -> None:
        self.lock = threading.Lock()
        self.access_key_ttl = access_key_ttl
        self._record_path = record_path
        self._record_file: IO[str] | None = None
        self.accounts: dict[str, Account] = {}
        self.devices: dict[str, str] = {}  # deviceId -> enterprise code
        self.access_keys: dict[str, tuple[str, float]] = {}  # AK -> (enterprise, monotonic expiry)
        self.dicts: Dictionaries = load_dictionaries()
        self._fault_mode = "none"
        self._fault_remaining: int | None = None
        self._fault_delay = 1.0
        self._records: list[dict[str, Any]] = []
        self._infos: list[dict[str, Any]] = []
        self._ledgers: list[dict[str, Any]] = []
        self._requests: list[dict[str, Any]] = []

    # --- accounts ---------------------------------------------------------------------------

    def provision(self, enterprise_code: str, region: str, pin: str) -> None:
        """Open (or update) an account; a registration already made keeps its device and key."""
        with self.lock:
            account = self.accounts.get(enterprise_code)
            if account is None:
                self.accounts[enterprise_code] = Account(enterprise_code, region, pin)
            else:
                account.region, account.pin = region, pin

    def register(self, enterprise_code: str, region: str, *, open_registration: bool) -> Account:
        """The enterprise's registration, made on first call and the same on every later one."""
        with self.lock:
            account = self.accounts.get(enterprise_code)
            if account is None:
                if not open_registration:
                    raise Refusal("企业未开户")
                account = Account(enterprise_code, region, pin="")
                self.accounts[enterprise_code] = account
            elif account.region != region:
                raise Refusal(f"行政区划代码与开户信息不符：{region}")
            if account.device_id is None:
                account.device_id = secrets.token_hex(16)
                account.secret_key = secrets.token_hex(16)
                self.devices[account.device_id] = enterprise_code
            return copy.copy(account)

    def account_for_device(self, device_id: object, enterprise_code: object | None) -> Account:
        """The registered account of ``device_id``; a code, when given, must be its owner's."""
        with self.lock:
            owner = self.devices.get(device_id) if isinstance(device_id, str) else None
            if owner is None or (enterprise_code is not None and owner != enterprise_code):
                raise Refusal(DEVICE_MISMATCH)
            return copy.copy(self.accounts[owner])

    def account(self, enterprise_code: str) -> Account | None:
        """A copy of one account, or None."""
        with self.lock:
            found = self.accounts.get(enterprise_code)
            return copy.copy(found) if found else None

    def accounts_snapshot(self) -> list[Account]:
        """Copies of every account."""
        with self.lock:
            return [copy.copy(a) for a in self.accounts.values()]

    def rekey(self, enterprise_code: str) -> str:
        """A new secretKey for a registered enterprise; the old one stops working at once."""
        with self.lock:
            account = self.accounts.get(enterprise_code)
            if account is None or account.device_id is None:
                raise KeyError(f"{enterprise_code} has not registered")
            account.secret_key = secrets.token_hex(16)
            return account.secret_key

    # --- access keys (bearer profiles) -------------------------------------------------------

    def issue_access_key(self, enterprise_code: str) -> str:
        """A fresh access key for the enterprise, valid for ``access_key_ttl`` seconds."""
        key = secrets.token_urlsafe(32)
        with self.lock:
            self.access_keys[key] = (enterprise_code, time.monotonic() + self.access_key_ttl)
        return key

    def access_key_owner(self, key: str) -> str:
        """The enterprise an unexpired access key was issued to; HTTP 401 otherwise."""
        with self.lock:
            found = self.access_keys.get(key)
        if found is None or found[1] <= time.monotonic():
            raise Refusal(ACCESS_KEY_INVALID, status=401, code="401")
        return found[0]

    def expire_access_keys(self) -> None:
        """Every access key issued so far is expired from now on."""
        with self.lock:
            expired = time.monotonic() - 1
            self.access_keys = {k: (owner, expired) for k, (owner, _) in self.access_keys.items()}

    # --- faults ------------------------------------------------------------------------------

    def set_fault(self, mode: str, count: int | None, delay: float) -> None:
        """Play ``mode`` on the next ``count`` faultable requests (all when ``count`` is None)."""
        if mode not in FAULT_MODES:
            raise ValueError(f"fault mode {mode!r} is not one of {FAULT_MODES}")
        if count is not None and count < 0:
            raise ValueError("count must not be negative")
        with self.lock:
            self._fault_mode = "none" if count == 0 else mode
            self._fault_remaining = None if mode == "none" else count
            self._fault_delay = delay

    def take_fault(self) -> Fault | None:
        """The fault for this request, counting it against the fault's ``count``."""
        with self.lock:
            if self._fault_mode == "none":
                return None
            fault = Fault(self._fault_mode, self._fault_delay)
            if self._fault_remaining is not None:
                self._fault_remaining -= 1
                if self._fault_remaining <= 0:
                    self._fault_mode, self._fault_remaining = "none", None
            return fault

    # --- dictionaries ------------------------------------------------------------------------

    def bump_dictionaries(self, changes: dict[str, Any] | None) -> int:
        """Apply ``changes`` as the next dictionary version; returns the new ``dicVersion``."""
        with self.lock:
            self.dicts = self.dicts.changed(changes)
            return self.dicts.version

    # --- observations ------------------------------------------------------------------------

    def accept_rows(self, account: Account, rows: list[dict[str, Any]]) -> None:
        """Record a whole accepted batch, numbered in acceptance order."""
        received_at = now()
        with self.lock:
            start = len(self._records) + 1
            batch = [
                {
                    "seq": start + i,
                    "enterpriseCode": account.enterprise_code,
                    "deviceId": account.device_id,
                    **row,
                    "received_at": received_at,
                }
                for i, row in enumerate(rows)
            ]
            self._records.extend(batch)
            self._write_record(batch)

    def accept_info(self, enterprise_code: str, data: dict[str, Any]) -> None:
        """Record an enterprise-information upload."""
        with self.lock:
            self._infos.append(
                {"enterpriseCode": enterprise_code, "data": data, "received_at": now()}
            )

    def accept_meters(self, enterprise_code: str, data: list[Any]) -> None:
        """Record a meter-ledger upload."""
        with self.lock:
            self._ledgers.append(
                {"enterpriseCode": enterprise_code, "data": data, "received_at": now()}
            )

    def log(
        self, endpoint: str, enterprise_code: str | None, outcome: str, message: str, rows: int
    ) -> None:
        """Log one request with how it ended ("accepted", "refused", "5xx", "timeout")."""
        entry = {
            "endpoint": endpoint,
            "enterpriseCode": enterprise_code,
            "outcome": outcome,
            "message": message,
            "rows": rows,
            "at": now(),
        }
        with self.lock:
            self._requests.append(entry)

    def records(self) -> list[dict[str, Any]]:
        """Accepted rows, in acceptance order."""
        with self.lock:
            return copy.deepcopy(self._records)

    def infos(self) -> list[dict[str, Any]]:
        """Accepted information uploads."""
        with self.lock:
            return copy.deepcopy(self._infos)

    def meter_ledgers(self) -> list[dict[str, Any]]:
        """Accepted meter-ledger uploads."""
        with self.lock:
            return copy.deepcopy(self._ledgers)

    def requests(self) -> list[dict[str, Any]]:
        """The request log."""
        with self.lock:
            return copy.deepcopy(self._requests)

    def reset(self) -> None:
        """Forget observations and the fault; accounts, keys and dictionaries stay."""
        with self.lock:
            self._records.clear()
            self._infos.clear()
            self._ledgers.clear()
            self._requests.clear()
            self._fault_mode, self._fault_remaining = "none", None

    # --- the record file ---------------------------------------------------------------------

    def _write_record(self, batch: list[dict[str, Any]]) -> None:
        # Called with the lock held, so lines of concurrent batches never interleave.
        if self._record_path is None:
            return
        if self._record_file is None:
            self._record_file = self._record_path.open("a", encoding="utf-8")
        for row in batch:
            self._record_file.write(json.dumps(to_json(row), ensure_ascii=False) + "\n")
        self._record_file.flush()

    def close(self) -> None:
        """Close the record file, if one is open."""
        with self.lock:
            if self._record_file is not None:
                self._record_file.close()
                self._record_file = None


def to_json(value: Any) -> Any:
    """``value`` with Decimals as strings and datetimes as ISO 8601, for JSON answers and files."""
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value
