"""What a profile's configuration cannot say: one small adapter per odd platform.

The standard adapter has nothing to add. The Yunnan-style platform hands out access
keys for a password built from a PIN block (:func:`ems.upload.crypto.encrypt_pin`);
a province with another handshake adds a class here and names it in its profile.
"""

from __future__ import annotations

from typing import Any

from ems.upload import crypto


class Adapter:
    """The standard protocol: no access-key handshake."""

    def access_key_body(
        self, enterprise_code: str, device_id: str, secret_key: str, pin: str
    ) -> dict[str, Any]:
        raise crypto.CipherError("this profile has no access-key handshake")


class Yunnan(Adapter):
    """``requestAK``: enterprise code, device id and the SM4-CBC PIN block as password."""

    def access_key_body(
        self, enterprise_code: str, device_id: str, secret_key: str, pin: str
    ) -> dict[str, Any]:
        return {
            "enterpriseCode": enterprise_code,
            "deviceId": device_id,
            "password": crypto.encrypt_pin(pin, secret_key, enterprise_code),
        }


ADAPTERS: dict[str, Adapter] = {"standard": Adapter(), "yunnan": Yunnan()}


def get(name: str) -> Adapter:
    """The adapter a profile names (profiles.parse checks the name exists)."""
    return ADAPTERS[name]
