"""The provincial platform's endpoints: one request (path, headers, body) in, one reply out.

No sockets here: :mod:`ems_provsim.server` feeds requests in. The order of the checks is the
order a strict platform applies them (fault, bearer auth, decompression, JSON, device, field
decryption, rows), so a client sees the same first complaint a province would give it.
"""

from __future__ import annotations

import gzip
import json
import re
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ems_provsim.crypto import DECRYPT_FAILED, FieldCipher, decrypt_pin_block
from ems_provsim.errors import Refusal
from ems_provsim.profile import Profile
from ems_provsim.rows import check_row
from ems_provsim.state import (
    ACCESS_KEY_INVALID,
    DEVICE_MISMATCH,
    REG_VERSION,
    Account,
    Fault,
    PlatformState,
)
from ems_provsim.uscc import is_valid_uscc

# Service endpoints, by the role names of a profile's [urls] table, under the register folder.
SERVICE_PATHS = {
    "version": "loadDicVersion",
    "data": "centerData",
    "info": "centerInfo",
    "meters": "centerMeteringData",
    "dictionary": "downloadBaseData",
}
# Faults and bearer auth apply to every endpoint but register.
FAULTABLE = {"version", "dictionary", "data", "info", "meters", "access_key"}
_REGION = re.compile(r"\d{6}")
_SERVICE_UNAVAILABLE = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"


@dataclass(frozen=True)
class Reply:
    """One HTTP answer."""

    status: int
    body: bytes
    content_type: str = "application/json;charset=UTF-8"


@dataclass
class Exchange:
    """What the request log needs to know of a request, filled in as handling goes."""

    endpoint: str
    enterprise_code: str | None = None
    rows: int = 0


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class Platform:
    """One province's endpoints over a :class:`PlatformState`."""

    def __init__(
        self,
        profile: Profile,
        state: PlatformState,
        *,
        open_registration: bool,
        check_uscc_digit: bool,
    ) -> None:
        self.profile = profile
        self.state = state
        self.open_registration = open_registration
        self.check_uscc_digit = check_uscc_digit
        prefix = profile.service_prefix
        self.paths = {role: prefix + name for role, name in SERVICE_PATHS.items()}
        self.paths["register"] = profile.register_path
        if profile.access_key_path:
            self.paths["access_key"] = profile.access_key_path
        self._routes = {path: endpoint for endpoint, path in self.paths.items()}
        self._handlers: dict[
            str, Callable[[dict[str, Any], Exchange, str | None, str], dict[str, Any]]
        ] = {
            "register": self._register,
            "access_key": self._access_key,
            "version": self._version,
            "dictionary": self._dictionary,
            "data": self._data,
            "info": self._info,
            "meters": self._meters,
        }

    def route(self, path: str) -> str | None:
        """The endpoint a path serves, or None."""
        return self._routes.get(path)

    def handle(
        self, endpoint: str, headers: Mapping[str, str], body: bytes, base_url: str
    ) -> Reply | None:
        """Answer one POST; None means drop the connection without an answer (timeout fault)."""
        exchange = Exchange(endpoint)
        try:
            if endpoint in FAULTABLE and (fault := self.state.take_fault()) is not None:
                return self._play_fault(fault, exchange, headers, body)
            owner = self._authenticate(endpoint, headers)
            exchange.enterprise_code = owner
            payload = self._payload(headers, body, exact_decimals=endpoint == "data")
            answer = self._handlers[endpoint](payload, exchange, owner, base_url)
        except Refusal as refusal:
            self.state.log(
                endpoint, exchange.enterprise_code, "refused", refusal.message, exchange.rows
            )
            return self.refusal_reply(refusal)
        self.state.log(
            endpoint, exchange.enterprise_code, "accepted", answer["responseMessage"], exchange.rows
        )
        return json_reply(200, answer)

    def refusal_reply(self, refusal: Refusal) -> Reply:
        """The JSON answer to a refused request."""
        code = refusal.code or self.profile.failure_code
        return json_reply(
            refusal.status, {"responseCode": code, "responseMessage": refusal.message}
        )

    def _success(self, message: str, **fields: Any) -> dict[str, Any]:
        return {"responseCode": self.profile.success_code, "responseMessage": message, **fields}

    # --- the stages every request goes through -----------------------------------------------

    def _play_fault(
        self, fault: Fault, exchange: Exchange, headers: Mapping[str, str], body: bytes
    ) -> Reply | None:
        # Best effort, only so the log can say whose request was faulted.
        try:
            code = self._payload(headers, body, exact_decimals=False).get("enterpriseCode")
            exchange.enterprise_code = code if isinstance(code, str) else None
        except Refusal:
            pass
        if fault.mode == "5xx":
            self.state.log(exchange.endpoint, exchange.enterprise_code, "5xx", "503 (simulated)", 0)
            return Reply(503, _SERVICE_UNAVAILABLE, "text/html")
        if fault.mode == "timeout":
            # The front proxy gives up before the platform has seen the request: nothing is
            # processed or recorded, and the client is left with a dropped connection.
            self.state.log(
                exchange.endpoint,
                exchange.enterprise_code,
                "timeout",
                f"dropped after {fault.delay}s",
                0,
            )
            time.sleep(fault.delay)
            return None
        raise Refusal(DECRYPT_FAILED if fault.mode == "decrypt" else DEVICE_MISMATCH)

    def _authenticate(self, endpoint: str, headers: Mapping[str, str]) -> str | None:
        """The enterprise of the bearer access key, for bearer profiles (HTTP 401 without one)."""
        if self.profile.auth != "bearer" or endpoint in ("register", "access_key"):
            return None
        scheme, _, key = headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Refusal(ACCESS_KEY_INVALID, status=401, code="401")
        return self.state.access_key_owner(key.strip())

    def _payload(
        self, headers: Mapping[str, str], body: bytes, *, exact_decimals: bool
    ) -> dict[str, Any]:
        encoding = headers.get("Content-Encoding", "").strip().lower()
        if self.profile.compression == "gzip":
            if encoding != "gzip":
                raise Refusal("请求体必须经 gzip 压缩（Content-Encoding: gzip）")
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError, zlib.error) as exc:
                raise Refusal("请求体解压失败（gzip）") from exc
        elif encoding not in ("", "identity"):
            raise Refusal(f"不支持的请求体压缩格式：{encoding}")
        try:
            payload = json.loads(
                body.decode("utf-8"),
                parse_float=Decimal if exact_decimals else float,
                parse_constant=_reject_constant,
            )
        except (UnicodeDecodeError, ValueError) as exc:
            raise Refusal("请求报文不是有效的 JSON") from exc
        if not isinstance(payload, dict):
            raise Refusal("请求报文必须是 JSON 对象")
        return payload

    def _account(
        self, payload: dict[str, Any], exchange: Exchange, owner: str | None, *, code_required: bool
    ) -> Account:
        """The sender's account: its deviceId must be registered to the enterpriseCode it names."""
        code = payload.get("enterpriseCode")
        if isinstance(code, str):
            exchange.enterprise_code = code
        if code_required and not code:
            code = ""  # never an owner, so a missing code reads as a mismatch
        account = self.state.account_for_device(payload.get("deviceId"), code)
        exchange.enterprise_code = account.enterprise_code
        if owner is not None and owner != account.enterprise_code:
            # An access key is one enterprise's: presenting it for another is not authorised.
            raise Refusal(ACCESS_KEY_INVALID, status=401, code="401")
        return account

    # --- the endpoints -----------------------------------------------------------------------

    def _register(
        self, payload: dict[str, Any], exchange: Exchange, owner: str | None, base_url: str
    ) -> dict[str, Any]:
        code, region = payload.get("enterpriseCode"), payload.get("region")
        exchange.enterprise_code = code if isinstance(code, str) else None
        if not is_valid_uscc(code, check_digit=self.check_uscc_digit):
            raise Refusal("统一社会信用代码格式错误")
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            raise Refusal("行政区划代码格式错误")
        account = self.state.register(str(code), region, open_registration=self.open_registration)
        urls = {self.profile.urls[role]: base_url + self.paths[role] for role in SERVICE_PATHS}
        return self._success(
            "注册成功",
            deviceId=account.device_id,
            secretKey=account.secret_key,
            uploadTime=account.upload_time,
            regVersion=REG_VERSION,
            **urls,
        )

    def _access_key(
        self, payload: dict[str, Any], exchange: Exchange, owner: str | None, base_url: str
    ) -> dict[str, Any]:
        account = self._account(payload, exchange, owner, code_required=True)
        pin = decrypt_pin_block(
            payload.get("password"), str(account.secret_key), account.enterprise_code
        )
        if pin != account.pin:
            raise Refusal("密码错误")
        key = self.state.issue_access_key(account.enterprise_code)
        return self._success("成功", accessKey=key, expiresIn=self.state.access_key_ttl)

    def _version(
        self, payload: dict[str, Any], exchange: Exchange, owner: str | None, base_url: str
    ) -> dict[str, Any]:
        self._account(payload, exchange, owner, code_required=False)
        return self._success("成功", regVersion=REG_VERSION, dicVersion=self.state.dicts.version)

    def _dictionary(
        self, payload: dict[str, Any], exchange: Exchange, owner: str | None, base_url: str
    ) -> dict[str, Any]:
        self._account(payload, exchange, owner, code_required=False)
        raw = payload.get("item")
        item = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        if isinstance(raw, str) and raw.isdigit():
            item = int(raw)
        if item is None or not 1 <= item <= 17:
            raise Refusal(f"字典项不存在：{raw}")
        dicts = self.state.dicts
        entries = [dict(entry) for entry in dicts.items.get(item, [])]
        exchange.rows = len(entries)
        return self._success("成功", dicVersion=dicts.version, item=item, data=entries)

    def _data(
        self, payload: dict[str, Any], exchange: Exchange, owner: str | None, base_url: str
    ) -> dict[str, Any]:
        account = self._account(payload, exchange, owner, code_required=True)
        rows = payload.get("data")
        if not isinstance(rows, list) or not rows:
            raise Refusal("上传数据为空或格式错误")
        exchange.rows = len(rows)
        if len(rows) > self.profile.batch_size:
            raise Refusal(f"单次上传不得超过{self.profile.batch_size}条")
        for index, row in enumerate(rows, start=1):
            if not isinstance(row, dict):
                raise Refusal(f"第{index}条：数据格式错误")
        encrypted = self.profile.field_encryption != "none"
        if encrypted:
            cipher = FieldCipher(self.profile.field_encryption, str(account.secret_key))
            rows = [{name: cipher.decrypt(value) for name, value in row.items()} for row in rows]
        dicts = self.state.dicts  # one version for the whole batch
        checked = []
        for index, row in enumerate(rows, start=1):
            try:
                checked.append(check_row(row, self.profile, dicts, decrypted=encrypted))
            except Refusal as refusal:
                raise Refusal(f"第{index}条：{refusal.message}") from refusal
        self.state.accept_rows(account, checked)
        return self._success(f"上传成功，共{len(checked)}条")

    def _info(
        self, payload: dict[str, Any], exchange: Exchange, owner: str | None, base_url: str
    ) -> dict[str, Any]:
        account = self._account(payload, exchange, owner, code_required=True)
        data = payload.get("data")
        if not isinstance(data, dict) or not data:
            raise Refusal("企业信息格式错误")
        exchange.rows = 1
        self.state.accept_info(account.enterprise_code, data)
        return self._success("企业信息上传成功")

    def _meters(
        self, payload: dict[str, Any], exchange: Exchange, owner: str | None, base_url: str
    ) -> dict[str, Any]:
        account = self._account(payload, exchange, owner, code_required=True)
        data = payload.get("data")
        if not isinstance(data, list) or not data or not all(isinstance(m, dict) for m in data):
            raise Refusal("计量器具台账格式错误")
        exchange.rows = len(data)
        self.state.accept_meters(account.enterprise_code, data)
        return self._success(f"计量器具台账上传成功，共{len(data)}条")


def json_reply(status: int, answer: Mapping[str, Any]) -> Reply:
    """A JSON answer, UTF-8 with the Chinese left readable."""
    return Reply(status, json.dumps(answer, ensure_ascii=False).encode("utf-8"))
