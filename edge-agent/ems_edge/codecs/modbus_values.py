"""Modbus register words to engineering values and back (寄存器数据类型与字节序).

The Modbus application protocol (Modbus Application Protocol Specification
v1.1b3, clauses 4.2 and 6.3/6.4) only knows 16-bit registers, each sent big-endian
(high byte first), and single bits (coils, discrete inputs). Everything wider is a
vendor convention: a 32-bit or 64-bit value is spread over 2 or 4 consecutive
registers, and vendors disagree on both orders. Here the value's bytes, most
significant first, are ``A B C D`` (``A..H`` for 64 bits)::

    float32 1.0 = 3F 80 00 00             word order  byte order  registers
                                          big         big         3F80 0000   "ABCD"
                                          little      big         0000 3F80   "CDAB"
                                          big         little      803F 0000   "BADC"
                                          little      little      0000 803F   "DCBA"

*word order* says which 16-bit word comes first (big: the most significant);
*byte order* says how the two bytes sit inside each word (big: as the standard
says, little: swapped). A register value as pymodbus hands it over is the word
read big-endian off the wire, so ``0x3F80`` above is the bytes ``3F 80``.

A reading is ``value = raw * scale + offset``. A float register holding NaN or
infinity is an impossible value (:class:`ImpossibleValueError`): the driver
reports it as the meter's fault. These are value codecs, not frame codecs:
pymodbus frames the requests (MBAP or RTU with CRC), so there is nothing to
``decode(buffer) -> (consumed, frame)`` here; the functions are pure all the same.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ems_edge.errors import CodecError

#: data type -> (struct format, registers it occupies)
WORD_TYPES: dict[str, tuple[str, int]] = {
    "int16": ("h", 1),
    "uint16": ("H", 1),
    "int32": ("i", 2),
    "uint32": ("I", 2),
    "float32": ("f", 2),
    "float64": ("d", 4),
}
#: The one type of coils and discrete inputs.
BIT_TYPE = "bool"
DATA_TYPES = (*WORD_TYPES, BIT_TYPE)
ORDERS = ("big", "little")


class ModbusValueError(CodecError):
    """Register words cannot be turned into a value of the configured type, or back."""


class RegisterCountError(ModbusValueError):
    """The number of registers given does not match the data type (e.g. 1 word for a float32)."""


class ValueRangeError(ModbusValueError):
    """A value does not fit the data type, or a register word is outside 0..65535."""


class ImpossibleValueError(ModbusValueError):
    """A float register holds NaN or infinity: no meter measures that."""


@dataclass(frozen=True, slots=True)
class RegisterFormat:
    """How one point's value sits in its registers: type, both orders, scale and offset."""

    data_type: str
    word_order: str = "big"
    byte_order: str = "big"
    scale: float = 1.0
    offset: float = 0.0

    def __post_init__(self) -> None:
        if self.data_type not in DATA_TYPES:
            raise ModbusValueError(f"unknown data type {self.data_type!r}")
        if self.word_order not in ORDERS or self.byte_order not in ORDERS:
            raise ModbusValueError("word and byte order are 'big' or 'little'")
        if self.scale == 0 or not math.isfinite(self.scale) or not math.isfinite(self.offset):
            raise ModbusValueError("scale must be finite and non-zero, offset finite")

    @property
    def is_bit(self) -> bool:
        """True for coils and discrete inputs (one bit, not registers)."""
        return self.data_type == BIT_TYPE

    @property
    def count(self) -> int:
        """How many registers (or bits) the value occupies."""
        return 1 if self.is_bit else WORD_TYPES[self.data_type][1]


def register_count(data_type: str) -> int:
    """Registers a word type occupies (1, 2 or 4); a bool occupies one bit."""
    return 1 if data_type == BIT_TYPE else WORD_TYPES[data_type][1]


def pack(raw: float, data_type: str, word_order: str = "big", byte_order: str = "big") -> list[int]:
    """The register words holding ``raw`` (an int for integer types) in the given orders."""
    struct_format, _ = _word_type(data_type)
    if struct_format in "fd":
        try:
            data = struct.pack(f">{struct_format}", float(raw))
        except OverflowError as exc:
            raise ValueRangeError(f"{raw!r} does not fit a {data_type}") from exc
    else:
        if isinstance(raw, float) and not raw.is_integer():
            raise ValueRangeError(f"{raw!r} is not a whole number for a {data_type}")
        try:
            data = struct.pack(f">{struct_format}", int(raw))
        except struct.error as exc:
            raise ValueRangeError(f"{raw!r} does not fit a {data_type}") from exc
    return _arrange(data, word_order, byte_order)


def unpack(
    words: Sequence[int], data_type: str, word_order: str = "big", byte_order: str = "big"
) -> int | float:
    """The raw value in ``words``; NaN and infinity come back as they are."""
    struct_format, count = _word_type(data_type)
    if len(words) != count:
        raise RegisterCountError(f"a {data_type} takes {count} register(s), got {len(words)}")
    data = bytes(_arrange(words_to_bytes(words), word_order, byte_order, to_words=False))
    value: int | float = struct.unpack(f">{struct_format}", data)[0]
    return value


def decode_value(words: Sequence[int], fmt: RegisterFormat) -> float:
    """The engineering value ``raw * scale + offset`` of ``words``; NaN or inf is refused."""
    if fmt.is_bit:
        raise ModbusValueError("a bool is read from bits: use decode_bit")
    raw = unpack(words, fmt.data_type, fmt.word_order, fmt.byte_order)
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise ImpossibleValueError(f"{fmt.data_type} register holds {raw}")
        return raw * fmt.scale + fmt.offset
    # A count of 0.1 V is exact: 2327 * 0.1 must read 232.7, not 232.70000000000002.
    return round(raw * fmt.scale + fmt.offset, _decimals(fmt.scale, fmt.offset))


def decode_bit(bit: bool, fmt: RegisterFormat) -> float:
    """The engineering value of a coil or discrete input: 0 or 1, scaled and offset."""
    return (1.0 if bit else 0.0) * fmt.scale + fmt.offset


def encode_value(value: float, fmt: RegisterFormat) -> list[int]:
    """The registers a meter would hold for engineering ``value`` (integers are rounded)."""
    if fmt.is_bit:
        raise ModbusValueError("a bool is one bit: use encode_bit")
    raw = (value - fmt.offset) / fmt.scale
    if fmt.data_type in ("float32", "float64"):
        return pack(raw, fmt.data_type, fmt.word_order, fmt.byte_order)
    if not math.isfinite(raw):
        raise ValueRangeError(f"{value!r} does not fit a {fmt.data_type}")
    return pack(round(raw), fmt.data_type, fmt.word_order, fmt.byte_order)


def encode_bit(value: float, fmt: RegisterFormat) -> bool:
    """The bit a meter would hold for engineering ``value`` (anything but 0 raw is on)."""
    return (value - fmt.offset) / fmt.scale != 0


def words_to_bytes(words: Sequence[int]) -> bytes:
    """Register words as the bytes on the wire (each word high byte first)."""
    for word in words:
        if isinstance(word, bool) or not isinstance(word, int) or not 0 <= word <= 0xFFFF:
            raise ValueRangeError(f"register word {word!r} is not in 0..65535")
    return b"".join(word.to_bytes(2, "big") for word in words)


def bytes_to_words(data: bytes) -> list[int]:
    """Wire bytes as register words; an odd length is refused."""
    if len(data) % 2:
        raise RegisterCountError(f"{len(data)} bytes are not a whole number of registers")
    return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]


@functools.cache
def _decimals(scale: float, offset: float) -> int:
    """Decimal places an integer register's value can have: those of scale and offset."""
    places = (-int(Decimal(repr(x)).normalize().as_tuple().exponent) for x in (scale, offset))
    return min(max(0, *places), 15)


def _word_type(data_type: str) -> tuple[str, int]:
    try:
        return WORD_TYPES[data_type]
    except KeyError:
        raise ModbusValueError(f"{data_type!r} is not a register type") from None


def _arrange(data: bytes, word_order: str, byte_order: str, *, to_words: bool = True) -> list[int]:
    """Reorder big-endian value bytes into words (or words' bytes back into value bytes).

    Both reorderings are their own inverse, so one function serves both directions;
    with ``to_words=False`` the result is a list of byte values instead of words.
    """
    if word_order not in ORDERS or byte_order not in ORDERS:
        raise ModbusValueError(f"orders are 'big' or 'little', not {word_order!r}/{byte_order!r}")
    pairs = [data[i : i + 2] for i in range(0, len(data), 2)]
    if word_order == "little":
        pairs.reverse()
    if byte_order == "little":
        pairs = [pair[::-1] for pair in pairs]
    if to_words:
        return [int.from_bytes(pair, "big") for pair in pairs]
    return [byte for pair in pairs for byte in pair]
