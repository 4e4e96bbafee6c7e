"""DL/T 645-2007 and -1997, the multi-function electricity meter protocol (多功能电能表通信协议).

The frame of both editions (data link layer, clause 5 of the 2007 text)::

    [FE x 0..4] 68 A0 A1 A2 A3 A4 A5 68  C  L  DATA[L]  CS 16
     preamble   |  address, BCD,     |   |  |  +33h     |  end
     (wake-up)  |  low byte first    |   |  L <= 200    sum mod 256 of 68 .. last DATA byte
                start                start again
    C = D7 direction (1: reply) | D6 abnormal reply | D5 more frames follow | D4-D0 function

Functions used here: 2007 read data 11h (reply 91h, error D1h), read address 13h (reply 93h);
1997 read data 01h (reply 81h, error C1h); both broadcast time 08h to 99..99 (no reply,
DATA = ss mm hh DD MM YY). A data identifier (DI, 数据标识) is 4 bytes in 2007 and 2 in 1997,
sent low byte first; values are BCD, low byte first, with the sign in bit 7 of the highest
byte for signed formats. The identifiers and their formats (appendix A of the 2007 text) are
data: ``dlt645_data.csv`` beside this module, rows from secondary sources marked unverified.

Decoding never skips a damaged frame silently: :func:`decode` raises
:class:`Dlt645FrameError` for a bad checksum, end byte or length, carrying in ``consumed``
how many bytes to drop to resynchronise (the first 68h only, since it may be noise that
looked like a start). Errors split by who is to blame: :class:`Dlt645FrameError` for the
line (garbled or unexpected bytes), :class:`Dlt645MeterError` for the meter (an error reply,
an impossible value such as invalid BCD).
"""

from __future__ import annotations

import csv
import importlib.resources
import re
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache

from ems_edge.errors import CodecError

START = 0x68
END = 0x16
PREAMBLE_BYTE = 0xFE
MAX_DATA = 200
SCRAMBLE = 0x33
WILDCARD_ADDRESS = "AAAAAAAAAAAA"
BROADCAST_ADDRESS = "999999999999"

REPLY = 0x80
ABNORMAL = 0x40
MORE_FOLLOWS = 0x20
FUNCTION_MASK = 0x1F
BROADCAST_TIME = 0x08
READ_ADDRESS = 0x13

VERSIONS = (2007, 1997)
READ_FUNCTION = {2007: 0x11, 1997: 0x01}
DI_BYTES = {2007: 4, 1997: 2}

#: Error reply bits, bit 0 first. 2007: clause 7 of the standard; the 1997 meanings come
#: from secondary sources (unverified). Bit 7 is reserved in both.
ERROR_BITS = {
    2007: (
        "other error",
        "no such data",
        "password error or unauthorised",
        "baud rate cannot be changed",
        "year time zones exceeded",
        "day periods exceeded",
        "tariffs exceeded",
    ),
    1997: (
        "illegal data",
        "wrong data identifier",
        "password error",
        "reserved bit 3",
        "year time zones exceeded",
        "day periods exceeded",
        "tariffs exceeded",
    ),
}
NO_SUCH_DATA = {2007: 0x02, 1997: 0x02}
OTHER_ERROR = {2007: 0x01, 1997: 0x01}


_ADDRESS = re.compile(r"[0-9A-F]{12}")


class Dlt645Error(CodecError):
    """Root of the DL/T 645 errors; raised itself for a frame or value that cannot be encoded."""


class Dlt645FrameError(Dlt645Error):
    """Bytes that are not a well-formed frame, or not the answer asked for: a line fault.

    ``consumed`` is how many bytes of the decoded buffer to drop before decoding again.
    """

    def __init__(self, message: str, consumed: int = 0) -> None:
        super().__init__(message)
        self.consumed = consumed


class Dlt645MeterError(Dlt645Error):
    """A well-formed answer in which the meter refuses (error reply) or gives an impossible value.

    ``bits`` is the error byte of an error reply (None for an impossible value).
    """

    def __init__(self, message: str, bits: int | None = None) -> None:
        super().__init__(message)
        self.bits = bits


@dataclass(frozen=True, slots=True)
class Frame:
    """One frame: 12 hex digits of address (high digit first), control byte, plain DATA."""

    address: str
    control: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not _ADDRESS.fullmatch(self.address):
            raise Dlt645Error(f"address {self.address!r} is not 12 digits (BCD, or AA wildcard)")
        if not 0 <= self.control <= 0xFF:
            raise Dlt645Error(f"control byte {self.control} is not 0..255")
        if len(self.data) > MAX_DATA:
            raise Dlt645Error(f"{len(self.data)} data bytes, the standard allows {MAX_DATA}")

    @property
    def function(self) -> int:
        """The function code, D4-D0 of the control byte."""
        return self.control & FUNCTION_MASK

    @property
    def is_reply(self) -> bool:
        """True for a frame sent by a meter (D7 set)."""
        return bool(self.control & REPLY)

    @property
    def is_abnormal(self) -> bool:
        """True for an error reply (D6 set)."""
        return bool(self.control & ABNORMAL)


def _scramble(data: bytes, offset: int) -> bytes:
    return bytes((byte + offset) & 0xFF for byte in data)


def encode(frame: Frame, preamble: int = 4) -> bytes:
    """The bytes of ``frame`` on the wire, after ``preamble`` (0-4) wake-up FE bytes."""
    if not 0 <= preamble <= 4:
        raise Dlt645Error(f"preamble of {preamble} FE bytes, the standard allows 0 to 4")
    body = (
        bytes([START])
        + bytes.fromhex(frame.address)[::-1]
        + bytes([START, frame.control, len(frame.data)])
        + _scramble(frame.data, SCRAMBLE)
    )
    return bytes([PREAMBLE_BYTE]) * preamble + body + bytes([sum(body) & 0xFF, END])


def decode(buffer: bytes) -> tuple[int, Frame | None]:
    """The first frame in ``buffer`` and the bytes it used (garbage before it included).

    ``(consumed, None)`` means no whole frame yet: drop ``consumed`` bytes (garbage, preamble)
    and call again with more. A damaged frame raises :class:`Dlt645FrameError`.
    """
    start = 0
    while True:
        index = buffer.find(START, start)
        if index < 0:
            return len(buffer), None
        if len(buffer) >= index + 8 and buffer[index + 7] != START:
            start = index + 1  # a 68h inside garbage, not a frame start
            continue
        if len(buffer) < index + 10:
            return index, None
        length = buffer[index + 9]
        if length > MAX_DATA:
            raise Dlt645FrameError(f"length byte {length} above {MAX_DATA}", index + 1)
        end = index + 12 + length
        if len(buffer) < end:
            return index, None
        return end, _checked_frame(buffer[index:end], index)


def _checked_frame(raw: bytes, index: int) -> Frame:
    checksum = sum(raw[:-2]) & 0xFF
    if raw[-2] != checksum:
        raise Dlt645FrameError(f"bad checksum {raw[-2]:02X}, expected {checksum:02X}", index + 1)
    if raw[-1] != END:
        raise Dlt645FrameError(f"bad end byte {raw[-1]:02X}, expected 16", index + 1)
    address = raw[1:7][::-1].hex().upper()
    return Frame(address, raw[8], _scramble(raw[10:-2], -SCRAMBLE))


@dataclass(frozen=True, slots=True)
class DataItem:
    """One data identifier: what it measures and how its value is written (digits, sign)."""

    version: int
    di: str
    quantity: str
    unit: str
    digits: int
    decimals: int
    signed: bool
    length: int
    verified: bool

    @property
    def scale(self) -> int:
        """What the raw BCD number is divided by: 10 to the number of decimals."""
        return int(10**self.decimals)

    @property
    def capacity(self) -> int:
        """One more than the largest raw (unscaled) magnitude the register holds."""
        if self.signed and self.digits == 2 * self.length:
            return int(8 * 10 ** (self.digits - 1))  # bit 7 of the top byte is the sign
        return int(10**self.digits)

    def wrap(self, value: float) -> float:
        """The value a real register of this format shows: the magnitude modulo its capacity."""
        raw = round(abs(value) * self.scale) % self.capacity
        magnitude = raw / self.scale
        return -magnitude if value < 0 and self.signed else magnitude


def _flag(text: str, row: dict[str, str]) -> bool:
    if text not in ("true", "false"):
        raise Dlt645Error(f"dlt645_data.csv: {text!r} is not true/false in {row}")
    return text == "true"


@cache
def _table() -> dict[tuple[int, str], DataItem]:
    text = importlib.resources.files(__package__ or "ems_edge.codecs").joinpath("dlt645_data.csv")
    table = {}
    for row in csv.DictReader(text.read_text(encoding="utf-8").splitlines()):
        item = DataItem(
            int(row["version"]),
            row["di"].upper(),
            row["quantity"],
            row["unit"],
            int(row["digits"]),
            int(row["decimals"]),
            _flag(row["signed"], row),
            int(row["bytes"]),
            _flag(row["verified"], row),
        )
        if (
            item.version not in VERSIONS
            or len(item.di) != 2 * DI_BYTES[item.version]
            or not 0 < item.digits <= 2 * item.length
            or not 0 <= item.decimals <= item.digits
            or (item.version, item.di) in table
        ):
            raise Dlt645Error(f"dlt645_data.csv: impossible or repeated row {row}")
        table[item.version, item.di] = item
    return table


def data_items(version: int) -> list[DataItem]:
    """Every data identifier known for ``version``, in table order."""
    return [item for (v, _), item in _table().items() if v == version]


def data_item(di: str, version: int = 2007) -> DataItem:
    """The table row of ``di``; :class:`Dlt645Error` names a DI the table does not hold."""
    _check_version(version)
    try:
        return _table()[version, di.upper()]
    except KeyError:
        raise Dlt645Error(f"DI {di} is not in the DL/T 645-{version} table") from None


def _check_version(version: int) -> None:
    if version not in VERSIONS:
        raise Dlt645Error(f"DL/T 645 version {version} is not 2007 or 1997")


def encode_value(value: float, item: DataItem) -> bytes:
    """``value`` as BCD in ``item``'s format, low byte first, sign in bit 7 of the top byte."""
    raw = round(abs(value) * item.scale)
    negative = value < 0 and raw != 0
    if negative and not item.signed:
        raise Dlt645Error(f"DI {item.di} is unsigned, cannot hold {value}")
    if raw >= item.capacity:
        raise Dlt645Error(f"{value} does not fit DI {item.di} ({item.digits} digits)")
    data = bytearray(bytes.fromhex(f"{raw:0{2 * item.length}d}")[::-1])
    if negative:
        data[-1] |= 0x80
    return bytes(data)


def decode_value(data: bytes, item: DataItem) -> float:
    """The value of BCD ``data`` in ``item``'s format; invalid BCD is a meter fault."""
    if len(data) != item.length:
        raise Dlt645FrameError(f"DI {item.di}: {len(data)} value bytes, expected {item.length}")
    negative = item.signed and bool(data[-1] & 0x80)
    digits = (data[:-1] + bytes([data[-1] & 0x7F]) if negative else data)[::-1].hex()
    if not digits.isdigit():
        raise Dlt645MeterError(f"invalid BCD {data.hex(' ').upper()} for DI {item.di}")
    magnitude = int(digits) / item.scale
    return -magnitude if negative and magnitude else magnitude


def _di_data(di: str, version: int) -> bytes:
    _check_version(version)
    if not re.fullmatch(rf"[0-9A-Fa-f]{{{2 * DI_BYTES[version]}}}", di):
        raise Dlt645Error(f"DI {di!r} is not {2 * DI_BYTES[version]} hex digits for {version}")
    return bytes.fromhex(di)[::-1]


def read_data(address: str, di: str, version: int = 2007) -> Frame:
    """The request to read ``di`` from the meter at ``address``."""
    return Frame(address, READ_FUNCTION.get(version, 0), _di_data(di, version))


def read_address() -> Frame:
    """The wildcard request a lone meter on the bus answers with its address (2007)."""
    return Frame(WILDCARD_ADDRESS, READ_ADDRESS)


def broadcast_time(when: datetime) -> Frame:
    """Set every meter's clock to the wall-clock fields of ``when`` (in the meters' zone)."""
    if not 2000 <= when.year <= 2099:
        raise Dlt645Error(f"year {when.year} cannot be sent as two BCD digits")
    return Frame(BROADCAST_ADDRESS, BROADCAST_TIME, bytes.fromhex(when.strftime("%S%M%H%d%m%y")))


def parse_broadcast_time(frame: Frame, zone: tzinfo) -> datetime:
    """The time a broadcast-time frame sets, as a datetime in the meters' ``zone``."""
    digits = frame.data.hex()
    if frame.function != BROADCAST_TIME or len(frame.data) != 6 or not digits.isdigit():
        raise Dlt645FrameError(f"not a broadcast time: control {frame.control:02X}, {digits}")
    ss, mm, hh, day, month, yy = (int(digits[i : i + 2]) for i in range(0, 12, 2))
    try:
        return datetime(2000 + yy, month, day, hh, mm, ss, tzinfo=zone)
    except ValueError as exc:
        raise Dlt645FrameError(f"broadcast time {digits} is not a date: {exc}") from exc


def parse_read_request(frame: Frame) -> tuple[str, int]:
    """``(di, version)`` of a read-data request, as a meter sees it."""
    for version, function in READ_FUNCTION.items():
        if frame.control == function and len(frame.data) == DI_BYTES[version]:
            return frame.data[::-1].hex().upper(), version
    raise Dlt645FrameError(f"not a read request: control {frame.control:02X}")


def _check_reply(frame: Frame, function: int, version: int, what: str) -> None:
    if not frame.is_reply or frame.function != function:
        raise Dlt645FrameError(
            f"expected a reply to function {function:02X}, got control {frame.control:02X}"
        )
    if frame.is_abnormal:
        bits = frame.data[0] if len(frame.data) == 1 else None
        reason = f"DL/T 645 error reply: {describe_error(bits, version)} ({what})"
        raise Dlt645MeterError(reason, bits)


def describe_error(bits: int | None, version: int = 2007) -> str:
    """The set bits of an error reply's byte, in words (``None``: no error byte was sent)."""
    if bits is None:
        return "no error byte given"
    names = ERROR_BITS[version]
    words = [names[b] if b < len(names) else f"reserved bit {b}" for b in range(8) if bits >> b & 1]
    return ", ".join(words) if words else "no error bit set"


def parse_read_reply(frame: Frame, di: str, version: int = 2007) -> float:
    """The value of ``di`` in a read-data reply, scaled as the table says."""
    item = data_item(di, version)
    _check_reply(frame, READ_FUNCTION[version], version, f"DI {item.di}")
    expected = _di_data(item.di, version)
    got = frame.data[: len(expected)]
    if got != expected:
        raise Dlt645FrameError(f"reply for DI {got[::-1].hex().upper()}, asked for {item.di}")
    return decode_value(frame.data[len(expected) :], item)


def parse_address_reply(frame: Frame) -> str:
    """The 12-digit address in a read-address reply."""
    _check_reply(frame, READ_ADDRESS, 2007, "read address")
    if len(frame.data) != 6:
        raise Dlt645FrameError(f"read-address reply with {len(frame.data)} data bytes, not 6")
    address = frame.data[::-1].hex().upper()
    if not address.isdigit():
        raise Dlt645MeterError(f"read-address reply with invalid BCD address {address}")
    return address


def reply_read(address: str, di: str, value: float, version: int = 2007) -> Frame:
    """A meter's answer to a read of ``di``: the DI then the value."""
    item = data_item(di, version)
    control = REPLY | READ_FUNCTION[version]
    return Frame(address, control, _di_data(item.di, version) + encode_value(value, item))


def reply_error(address: str, bits: int, version: int = 2007) -> Frame:
    """A meter's error reply to a read (D1h in 2007, C1h in 1997) with error byte ``bits``."""
    _check_version(version)
    if not 0 <= bits <= 0xFF:
        raise Dlt645Error(f"error bits {bits} are not one byte")
    return Frame(address, REPLY | ABNORMAL | READ_FUNCTION[version], bytes([bits]))


def reply_address(address: str) -> Frame:
    """A meter's answer to read address: its address in the address field and in DATA."""
    return Frame(address, REPLY | READ_ADDRESS, bytes.fromhex(address)[::-1])
