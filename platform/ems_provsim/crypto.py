"""The ciphers provinces use, written against ``cryptography`` directly.

Two constructions, both 128-bit block ciphers keyed with 16 bytes:

* Field encryption (Shandong style): every value inside ``data[]`` is ``str(value)`` encrypted
  with SM4-ECB or AES-128-ECB, PKCS#7 padded, then hex encoded (upper case). The key is the
  32-hex ``secretKey`` decoded to 16 bytes::

      hex( E_k( pkcs7( utf8(str(value)) ) ) )      k = bytes.fromhex(secretKey)

* PIN block (Yunnan ``requestAK``): SM4-CBC without padding over exactly one block::

      | 2-digit PIN length | PIN | 'F' ... 'F' |   16 ASCII characters
      key = secretKey[:16] as ASCII, IV = enterpriseCode[:16] as ASCII
"""

from __future__ import annotations

import re

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ems_provsim.errors import Refusal

DECRYPT_FAILED = "解密失败！"
_UPPER_HEX = re.compile(r"(?:[0-9A-F]{32})+")


def _block_cipher(name: str, key: bytes) -> algorithms.AES | algorithms.SM4:
    if name == "sm4-ecb":
        return algorithms.SM4(key)
    if name == "aes-128-ecb":
        return algorithms.AES(key)
    raise ValueError(f"unknown field cipher {name!r}")


class FieldCipher:
    """Decrypts the hex field values of one enterprise (one key, one algorithm)."""

    def __init__(self, algorithm: str, secret_key: str) -> None:
        key = bytes.fromhex(secret_key)
        self._cipher = Cipher(_block_cipher(algorithm, key), modes.ECB())  # noqa: S305 - the province's scheme, simulated as is

    def decrypt(self, value: object) -> str:
        """The plain text of one field value; :class:`Refusal` ("解密失败！") when it is not one."""
        if not isinstance(value, str) or not _UPPER_HEX.fullmatch(value):
            raise Refusal(DECRYPT_FAILED)
        decryptor = self._cipher.decryptor()
        padded = decryptor.update(bytes.fromhex(value)) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            plain = unpadder.update(padded) + unpadder.finalize()
            return plain.decode("utf-8")
        except ValueError as exc:  # bad padding, or bytes that are not UTF-8 (a wrong key)
            raise Refusal(DECRYPT_FAILED) from exc


def decrypt_pin_block(password: object, secret_key: str, enterprise_code: str) -> str:
    """The PIN in a Yunnan password; :class:`Refusal` ("解密失败！") when it is no PIN block."""
    if not isinstance(password, str) or not re.fullmatch(r"[0-9A-Fa-f]{32}", password):
        raise Refusal(DECRYPT_FAILED)
    key = secret_key[:16].encode("ascii")
    iv = enterprise_code[:16].encode("ascii")
    decryptor = Cipher(algorithms.SM4(key), modes.CBC(iv)).decryptor()
    block = decryptor.update(bytes.fromhex(password)) + decryptor.finalize()
    try:
        text = block.decode("ascii")
    except UnicodeDecodeError as exc:
        raise Refusal(DECRYPT_FAILED) from exc
    if not text[:2].isdigit():
        raise Refusal(DECRYPT_FAILED)
    length = int(text[:2])
    pin, filler = text[2 : 2 + length], text[2 + length :]
    if length < 1 or len(pin) != length or filler != "F" * (14 - length):
        raise Refusal(DECRYPT_FAILED)
    return pin
