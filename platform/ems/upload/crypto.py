"""The ciphers the platforms ask for, and sealing of the secrets they hand out.

Field encryption (Shandong style): every value inside ``data[]`` is encrypted on
its own with a 128-bit block cipher in ECB mode, PKCS#7-padded, hex in upper case;
the key is the 32-hex ``secretKey`` decoded to 16 bytes. The public client code
names the cipher only as a 128-bit block cipher; SM4 is the likely one, so the
profile chooses between SM4 and AES (both from the ``cryptography`` package, which
implements SM4 through OpenSSL).

The Yunnan-style password: SM4-CBC without padding over a 16-character PIN block
(two-digit length, the PIN, ``F`` up to 16), key = the first 16 characters of the
secret key, IV = the first 16 characters of the enterprise code.

Secrets at rest (secret key, PIN, client certificate, access key) are sealed with
AES-256-GCM under a key derived (HKDF-SHA256) from the platform secret, so a copy
of the database alone does not let anyone upload in an enterprise's name.
"""

from __future__ import annotations

import os
import re

from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ems.errors import EmsError

_SEAL_INFO = b"ems upload secrets v1"


class CipherError(EmsError):
    """A value that cannot be encrypted or decrypted as asked."""

    status = 422
    code = "cipher_error"


def _block_cipher(kind: str, key: bytes) -> algorithms.SM4 | algorithms.AES:
    if len(key) != 16:
        raise CipherError(f"{kind} needs a 16-byte key, got {len(key)} bytes")
    if kind == "sm4-ecb":
        return algorithms.SM4(key)
    if kind == "aes-128-ecb":
        return algorithms.AES(key)
    raise CipherError(f"unknown field encryption {kind!r}")


def field_key(secret_key_hex: str) -> bytes:
    """The field cipher's key: the 32-hex secret key as 16 bytes."""
    try:
        key = bytes.fromhex(secret_key_hex)
    except ValueError as exc:
        raise CipherError("the secret key is not hexadecimal") from exc
    if len(key) != 16:
        raise CipherError(f"the secret key must be 32 hex digits, got {len(secret_key_hex)}")
    return key


def encrypt_field(kind: str, key: bytes, text: str) -> str:
    """One field value, encrypted and hex-encoded (upper case)."""
    padder = padding.PKCS7(128).padder()
    plain = padder.update(text.encode("utf-8")) + padder.finalize()
    # ECB is what these platforms specify; each field is short and keyed per enterprise.
    encryptor = Cipher(_block_cipher(kind, key), modes.ECB()).encryptor()  # noqa: S305
    return (encryptor.update(plain) + encryptor.finalize()).hex().upper()


def decrypt_field(kind: str, key: bytes, hex_text: str) -> str:
    """The inverse of :func:`encrypt_field`; :class:`CipherError` when it does not fit."""
    try:
        data = bytes.fromhex(hex_text)
        decryptor = Cipher(_block_cipher(kind, key), modes.ECB()).decryptor()  # noqa: S305
        padded = decryptor.update(data) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CipherError("the value does not decrypt with this key") from exc


def pin_block(pin: str) -> str:
    """Two-digit length, the PIN, then ``F`` up to 16 characters."""
    # ASCII digits only: str.isdigit() also takes full-width and other scripts' digits.
    if not re.fullmatch(r"[0-9]{4,14}", pin):
        raise CipherError("the PIN must be 4 to 14 digits")
    return f"{len(pin):02d}{pin}".ljust(16, "F")


def encrypt_pin(pin: str, secret_key: str, enterprise_code: str) -> str:
    """The Yunnan-style password: SM4-CBC (no padding) of the PIN block, hex upper case."""
    if len(secret_key) < 16 or len(enterprise_code) < 16:
        raise CipherError("the secret key and the enterprise code need 16 characters each")
    key = secret_key[:16].encode("ascii")
    iv = enterprise_code[:16].encode("ascii")
    encryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).encryptor()
    return (encryptor.update(pin_block(pin).encode("ascii")) + encryptor.finalize()).hex().upper()


def _seal_key(platform_secret: str) -> bytes:
    if not platform_secret:
        raise EmsError("EMS_SECRET_KEY is not set; upload secrets cannot be sealed")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_SEAL_INFO)
    return hkdf.derive(platform_secret.encode("utf-8"))


def seal(platform_secret: str, plain: bytes) -> bytes:
    """Encrypt a secret for storage: nonce || AES-256-GCM ciphertext."""
    nonce = os.urandom(12)
    return nonce + AESGCM(_seal_key(platform_secret)).encrypt(nonce, plain, _SEAL_INFO)


def unseal(platform_secret: str, sealed: bytes) -> bytes:
    """The secret :func:`seal` stored; :class:`EmsError` if the platform secret changed."""
    try:
        return AESGCM(_seal_key(platform_secret)).decrypt(sealed[:12], sealed[12:], _SEAL_INFO)
    except Exception as exc:  # InvalidTag: wrong platform secret or a damaged value
        raise EmsError(
            "a sealed upload secret cannot be opened (platform secret changed?)"
        ) from exc
