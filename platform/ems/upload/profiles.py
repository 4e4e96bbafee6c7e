"""Province profiles: how one monitoring platform wants to be spoken to.

Provinces run variants of one JSON-over-HTTPS protocol (shared/reference/
upload-protocol.md). What differs between them is configuration, kept in one TOML
file per profile under ``profiles/``; what configuration cannot say (an access-key
handshake) is an adapter named by the profile (:mod:`ems.upload.adapters`). Adding
a province is a new file, plus at most one small adapter.

A profile file is checked completely when it is loaded: every problem is named
with its key, and a profile with a problem is never used.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from ems.errors import EmsError

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"

CODE_FORMATS = ("hyphenated", "plain")
VALID_ENCODINGS = ("bool", "inverted_int", "int")
COMPRESSIONS = ("none", "gzip")
FIELD_ENCRYPTIONS = ("none", "aes-128-ecb", "sm4-ecb")
AUTHS = ("none", "mtls", "bearer")
URL_ROLES = ("version", "data", "info", "meters", "dictionary")
ADAPTERS = ("standard", "yunnan")
DATA_TYPES = ("01", "02", "03", "04", "05", "06", "07")


class ProfileError(EmsError):
    """A profile file that cannot be used, with every problem named."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"profile {source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems


@dataclass(frozen=True)
class Bearer:
    """The access-key handshake of ``auth = "bearer"`` profiles."""

    access_key_path: str
    renew_before_seconds: int


@dataclass(frozen=True)
class Profile:
    """One platform's protocol variant."""

    code: str
    name: str
    name_en: str
    adapter: str
    register_path: str
    success_code: str
    code_format: str
    valid_encoding: str
    compression: str
    field_encryption: str
    auth: str
    timestamp_format: str
    timeout_seconds: float
    batch_size: int
    realtime_minutes: int
    urls: Mapping[str, str]  # role -> the register reply's key carrying that URL
    code_dictionaries: Mapping[str, int]  # data type (digits 9-10) -> dictionary item
    bearer: Bearer | None = None
    # Refusals whose message means the request as a whole failed (credentials,
    # encryption), never one row: the rows stay queued and are retried.
    retry_messages: tuple[str, ...] = field(default=())

    def format_code(self, digits: str) -> str:
        """A 16-digit combined code as this platform writes it."""
        if self.code_format == "plain":
            return digits
        return f"{digits[0:2]}-{digits[2:4]}-{digits[4:8]}-{digits[8:14]}-{digits[14:16]}"

    def encode_valid(self, valid: bool) -> bool | int:
        """The validity flag in this platform's encoding."""
        if self.valid_encoding == "inverted_int":
            return 0 if valid else 1
        if self.valid_encoding == "int":
            return 1 if valid else 0
        return valid


_DEFAULT_RETRY = (
    "解密失败",
    "序列号与企业统一社会信用代码不符",
    "访问密钥",
    "未注册",
    "未开户",
)


def _take(raw: dict[str, Any], key: str, kind: type, problems: list[str]) -> Any:
    value = raw.get(key)
    if value is None:
        problems.append(f"{key}: missing")
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        problems.append(f"{key}: must be {kind.__name__}, got {type(value).__name__}")
        return None
    return value


def _choice(raw: dict[str, Any], key: str, allowed: tuple[str, ...], problems: list[str]) -> Any:
    value = _take(raw, key, str, problems)
    if value is not None and value not in allowed:
        problems.append(f"{key}: {value!r} is not one of {', '.join(allowed)}")
    return value


def parse(raw: dict[str, Any], source: str) -> Profile:
    """Check a profile's keys and build it; :class:`ProfileError` names every problem."""
    problems: list[str] = []
    known = {
        "code", "name", "name_en", "adapter", "register_path", "success_code", "code_format",
        "valid_encoding", "compression", "field_encryption", "auth", "timestamp_format",
        "timeout_seconds", "batch_size", "realtime_minutes", "urls", "code_dictionaries",
        "bearer", "retry_messages",
    }  # fmt: skip
    problems.extend(f"{key}: unknown key" for key in sorted(set(raw) - known))
    code = _take(raw, "code", str, problems)
    if code is not None and not re.fullmatch(r"[a-z][a-z0-9_]{1,31}", code):
        problems.append("code: lower-case letters, digits and _, 2-32 characters")
    texts = {k: _take(raw, k, str, problems) for k in ("name", "name_en", "success_code")}
    register_path = _take(raw, "register_path", str, problems)
    if register_path is not None and not register_path.startswith("/"):
        problems.append("register_path: must start with /")
    timestamp_format = _take(raw, "timestamp_format", str, problems)
    timeout = _take(raw, "timeout_seconds", float, problems)
    if timeout is not None and not 0 < timeout <= 300:
        problems.append("timeout_seconds: must be in (0, 300]")
    batch = _take(raw, "batch_size", int, problems)
    if batch is not None and not 1 <= batch <= 5000:
        problems.append("batch_size: must be 1..5000")
    minutes = _take(raw, "realtime_minutes", int, problems)
    if minutes is not None and minutes not in (15, 30, 60):
        problems.append("realtime_minutes: must be 15, 30 or 60 (never slower than 1 hour)")
    choices = {
        "adapter": ADAPTERS,
        "code_format": CODE_FORMATS,
        "valid_encoding": VALID_ENCODINGS,
        "compression": COMPRESSIONS,
        "field_encryption": FIELD_ENCRYPTIONS,
        "auth": AUTHS,
    }
    chosen = {k: _choice(raw, k, allowed, problems) for k, allowed in choices.items()}
    urls = _take(raw, "urls", dict, problems) or {}
    for role in URL_ROLES:
        if not isinstance(urls.get(role), str) or not urls.get(role):
            problems.append(f"urls.{role}: missing (the register reply's key for it)")
    problems.extend(f"urls.{role}: unknown role" for role in sorted(set(urls) - set(URL_ROLES)))
    dictionaries = _take(raw, "code_dictionaries", dict, problems) or {}
    for data_type, item in dictionaries.items():
        if data_type not in DATA_TYPES:
            problems.append(f"code_dictionaries.{data_type}: not a data type 01..07")
        if not isinstance(item, int) or isinstance(item, bool) or not 1 <= item <= 17:
            problems.append(f"code_dictionaries.{data_type}: must be a dictionary item 1..17")
    bearer: Bearer | None = None
    if chosen["auth"] == "bearer":
        section = raw.get("bearer")
        if not isinstance(section, dict):
            problems.append("bearer: auth = 'bearer' needs a [bearer] section")
        else:
            found: list[str] = []
            path = _take(section, "access_key_path", str, found)
            renew = _take(section, "renew_before_seconds", int, found)
            found.extend(
                f"{key}: unknown key"
                for key in sorted(set(section) - {"access_key_path", "renew_before_seconds"})
            )
            problems.extend(f"bearer.{problem}" for problem in found)
            if path is not None and renew is not None:
                bearer = Bearer(access_key_path=path, renew_before_seconds=renew)
    elif "bearer" in raw:
        problems.append("bearer: only for auth = 'bearer'")
    retry = raw.get("retry_messages", list(_DEFAULT_RETRY))
    if not isinstance(retry, list) or not all(isinstance(m, str) and m for m in retry):
        problems.append("retry_messages: must be a list of non-empty strings")
        retry = []
    if problems:
        raise ProfileError(source, problems)
    return Profile(
        code=code,
        name=texts["name"],
        name_en=texts["name_en"],
        adapter=chosen["adapter"],
        register_path=register_path,
        success_code=texts["success_code"],
        code_format=chosen["code_format"],
        valid_encoding=chosen["valid_encoding"],
        compression=chosen["compression"],
        field_encryption=chosen["field_encryption"],
        auth=chosen["auth"],
        timestamp_format=timestamp_format,
        timeout_seconds=timeout,
        batch_size=batch,
        realtime_minutes=minutes,
        urls=dict(urls),
        code_dictionaries={k: int(v) for k, v in dictionaries.items()},
        bearer=bearer,
        retry_messages=tuple(retry),
    )


def load_file(path: Path) -> Profile:
    """Read and check one profile file."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(path.name, [f"cannot be read: {exc}"]) from exc
    profile = parse(raw, path.name)
    if profile.code != path.stem:
        raise ProfileError(path.name, [f"code: {profile.code!r} must equal the file name"])
    return profile


@cache
def all_profiles() -> dict[str, Profile]:
    """Every shipped profile, by code (read once per process)."""
    return {p.stem: load_file(p) for p in sorted(PROFILE_DIR.glob("*.toml"))}


def get(code: str) -> Profile:
    """A shipped profile; :class:`KeyError` when there is none by that code."""
    return all_profiles()[code]
