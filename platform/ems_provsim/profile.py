"""A province profile, read from the same TOML files the platform's client reads.

Parsed here with ``tomllib`` on purpose, not through ``ems.upload``: the simulator is a second,
independent reading of the profile, so a misreading on either side shows up as a failed upload.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ems_provsim.errors import ProfileError

# The profiles live next to the client that reads them; the simulator only reads the files.
PROFILES_DIR = Path(__file__).resolve().parents[1] / "ems" / "upload" / "profiles"

CODE_FORMATS = {"hyphenated", "plain"}
VALID_ENCODINGS = {"bool", "inverted_int", "int"}
COMPRESSIONS = {"none", "gzip"}
FIELD_ENCRYPTIONS = {"none", "aes-128-ecb", "sm4-ecb"}
AUTHS = {"none", "mtls", "bearer"}
URL_ROLES = ("version", "data", "info", "meters", "dictionary")


@dataclass(frozen=True)
class Profile:
    """What the simulator needs of one province's profile."""

    code: str
    name: str
    register_path: str
    success_code: str
    failure_code: str
    code_format: str
    valid_encoding: str
    compression: str
    field_encryption: str
    auth: str
    timestamp_format: str
    batch_size: int
    urls: dict[str, str]
    code_dictionaries: dict[str, int]
    access_key_path: str | None

    @property
    def service_prefix(self) -> str:
        """The folder of the register path: the simulator serves its other endpoints there."""
        return self.register_path.rsplit("/", 1)[0] + "/"


def resolve_profile_path(profile: str | Path) -> Path:
    """A profile name ("national") is looked up in :data:`PROFILES_DIR`; anything else is a path."""
    if isinstance(profile, str) and "/" not in profile and not profile.endswith(".toml"):
        path = PROFILES_DIR / f"{profile}.toml"
    else:
        path = Path(profile)
    if not path.is_file():
        raise ProfileError(f"no such profile: {profile} (looked for {path})")
    return path


def load_profile(profile: str | Path) -> Profile:
    """Read and check one profile TOML."""
    path = resolve_profile_path(profile)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"cannot read profile {path}: {exc}") from exc
    return _profile_from_table(raw, path)


def _choice(raw: dict[str, Any], key: str, allowed: set[str], path: Path) -> str:
    value = raw.get(key)
    if value not in allowed:
        raise ProfileError(f"{path}: {key} = {value!r} is not one of {sorted(allowed)}")
    return str(value)


def _string(raw: dict[str, Any], key: str, path: Path) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise ProfileError(f"{path}: {key} must be a non-empty string")
    return value


def _profile_from_table(raw: dict[str, Any], path: Path) -> Profile:
    success_code = _string(raw, "success_code", path)
    urls = raw.get("urls", {})
    if not isinstance(urls, dict) or any(role not in urls for role in URL_ROLES):
        raise ProfileError(f"{path}: [urls] must name {', '.join(URL_ROLES)}")
    code_dictionaries = raw.get("code_dictionaries", {})
    if not isinstance(code_dictionaries, dict) or not all(
        isinstance(item, int) for item in code_dictionaries.values()
    ):
        raise ProfileError(f"{path}: [code_dictionaries] must map data types to item numbers")
    auth = _choice(raw, "auth", AUTHS, path)
    access_key_path = None
    if auth == "bearer":
        access_key_path = _string(raw.get("bearer", {}), "access_key_path", path)
    batch_size = raw.get("batch_size", 500)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ProfileError(f"{path}: batch_size must be a positive integer")
    return Profile(
        code=_string(raw, "code", path),
        name=str(raw.get("name", "")),
        register_path=_string(raw, "register_path", path),
        success_code=success_code,
        # The profiles name only the success code; the provinces seen answer "1" beside "0"
        # and "500" beside "200". A profile may say otherwise with failure_code.
        failure_code=str(raw.get("failure_code", "500" if success_code == "200" else "1")),
        code_format=_choice(raw, "code_format", CODE_FORMATS, path),
        valid_encoding=_choice(raw, "valid_encoding", VALID_ENCODINGS, path),
        compression=_choice(raw, "compression", COMPRESSIONS, path),
        field_encryption=_choice(raw, "field_encryption", FIELD_ENCRYPTIONS, path),
        auth=auth,
        timestamp_format=_string(raw, "timestamp_format", path),
        batch_size=batch_size,
        urls={role: str(urls[role]) for role in URL_ROLES},
        code_dictionaries={str(k): int(v) for k, v in code_dictionaries.items()},
        access_key_path=access_key_path,
    )
