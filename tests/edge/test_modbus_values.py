"""Modbus register words <-> values: known encodings as wire hex, round trips, refusals."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ems_edge.codecs.modbus_values import (
    ORDERS,
    WORD_TYPES,
    ImpossibleValueError,
    ModbusValueError,
    RegisterCountError,
    RegisterFormat,
    ValueRangeError,
    bytes_to_words,
    decode_bit,
    decode_value,
    encode_bit,
    encode_value,
    pack,
    register_count,
    unpack,
    words_to_bytes,
)
from ems_edge.errors import CodecError

INT_RANGES = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}


def wire(hex_words: str) -> list[int]:
    """Register words from hex as the bytes appear on the wire, e.g. ``"3F80 0000"``."""
    return bytes_to_words(bytes.fromhex(hex_words))


# raw value, type, word order, byte order, registers on the wire
KNOWN = [
    (1.0, "float32", "big", "big", "3F80 0000"),
    (1.0, "float32", "little", "big", "0000 3F80"),
    (1.0, "float32", "big", "little", "803F 0000"),
    (1.0, "float32", "little", "little", "0000 803F"),
    (-2.5, "float32", "big", "big", "C020 0000"),
    (0.0, "float32", "big", "big", "0000 0000"),
    (1.0, "float64", "big", "big", "3FF0 0000 0000 0000"),
    (1.0, "float64", "little", "big", "0000 0000 0000 3FF0"),
    (1.0, "float64", "big", "little", "F03F 0000 0000 0000"),
    (1.0, "float64", "little", "little", "0000 0000 0000 F03F"),
    (-0.1, "float64", "big", "big", "BFB9 9999 9999 999A"),
    (0x1234, "uint16", "big", "big", "1234"),
    (0x1234, "uint16", "big", "little", "3412"),
    # word order means nothing for one register
    (0x1234, "uint16", "little", "big", "1234"),
    (65535, "uint16", "big", "big", "FFFF"),
    (-1, "int16", "big", "big", "FFFF"),
    (-32768, "int16", "big", "big", "8000"),
    (-2, "int16", "big", "little", "FEFF"),
    (0x12345678, "uint32", "big", "big", "1234 5678"),
    (0x12345678, "uint32", "little", "big", "5678 1234"),
    (0x12345678, "uint32", "big", "little", "3412 7856"),
    (0x12345678, "uint32", "little", "little", "7856 3412"),
    (-2, "int32", "big", "big", "FFFF FFFE"),
    (-2, "int32", "little", "big", "FFFE FFFF"),
    (-(2**31), "int32", "big", "big", "8000 0000"),
    (123456, "uint32", "big", "big", "0001 E240"),
]


@pytest.mark.parametrize(("raw", "data_type", "word", "byte", "hex_words"), KNOWN)
def test_pack_gives_the_known_registers(
    raw: float, data_type: str, word: str, byte: str, hex_words: str
) -> None:
    assert pack(raw, data_type, word, byte) == wire(hex_words)


@pytest.mark.parametrize(("raw", "data_type", "word", "byte", "hex_words"), KNOWN)
def test_unpack_reads_the_known_registers(
    raw: float, data_type: str, word: str, byte: str, hex_words: str
) -> None:
    value = unpack(wire(hex_words), data_type, word, byte)
    assert value == raw
    assert isinstance(value, float) == data_type.startswith("float")


@pytest.mark.parametrize(
    ("hex_words", "fmt", "expected"),
    [
        ("0001 E240", RegisterFormat("uint32", scale=0.01), 1234.56),
        ("FF9C", RegisterFormat("int16", scale=0.1, offset=10), 0.0),
        ("08FC", RegisterFormat("uint16", scale=0.1), 230.0),
        ("03B6", RegisterFormat("int16", scale=0.001), 0.95),
        ("0000 3F80", RegisterFormat("float32", word_order="little"), 1.0),
        ("4220 0000", RegisterFormat("float32", offset=-273.15), 40.0 - 273.15),
        ("FFFF FFFF", RegisterFormat("uint32", scale=-1), -4294967295.0),
    ],
)
def test_decode_value_applies_scale_and_offset(
    hex_words: str, fmt: RegisterFormat, expected: float
) -> None:
    assert decode_value(wire(hex_words), fmt) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("hex_words", "fmt", "expected"),
    [
        ("0917", RegisterFormat("uint16", scale=0.1), 232.7),
        ("0000 0007", RegisterFormat("uint32", scale=0.01, offset=0.1), 0.17),
        ("FFFD", RegisterFormat("int16", scale=0.001), -0.003),
        ("0064", RegisterFormat("uint16", scale=1e-5), 0.001),
    ],
)
def test_integer_registers_read_without_binary_float_noise(
    hex_words: str, fmt: RegisterFormat, expected: float
) -> None:
    assert decode_value(wire(hex_words), fmt) == expected


@pytest.mark.parametrize(
    ("hex_words", "data_type", "word"),
    [
        ("7FC0 0000", "float32", "big"),
        ("7F80 0000", "float32", "big"),
        ("FF80 0000", "float32", "big"),
        ("0000 7FC0", "float32", "little"),
        ("7FF8 0000 0000 0000", "float64", "big"),
        ("FFF0 0000 0000 0000", "float64", "big"),
    ],
)
def test_nan_and_infinity_are_impossible_values(hex_words: str, data_type: str, word: str) -> None:
    with pytest.raises(ImpossibleValueError, match=data_type) as caught:
        decode_value(wire(hex_words), RegisterFormat(data_type, word_order=word))
    assert isinstance(caught.value, CodecError)


@pytest.mark.parametrize(
    ("data_type", "count"),
    [
        ("int16", 0),
        ("int16", 2),
        ("uint16", 3),
        ("int32", 1),
        ("uint32", 3),
        ("float32", 1),
        ("float32", 4),
        ("float64", 2),
        ("float64", 5),
    ],
)
def test_wrong_register_count_is_refused(data_type: str, count: int) -> None:
    with pytest.raises(RegisterCountError, match=f"{data_type} takes") as caught:
        unpack([0] * count, data_type)
    assert isinstance(caught.value, CodecError)


@pytest.mark.parametrize(
    ("raw", "data_type"),
    [
        (40000, "int16"),
        (-1, "uint16"),
        (2**32, "uint32"),
        (-(2**31) - 1, "int32"),
        (1e39, "float32"),
        (1.5, "uint16"),
    ],
)
def test_values_that_do_not_fit_are_refused(raw: float, data_type: str) -> None:
    with pytest.raises(ValueRangeError, match=data_type):
        pack(raw, data_type)


@pytest.mark.parametrize("words", [[65536, 0], [-1, 0], [True, 0]])
def test_words_outside_a_register_are_refused(words: list[int]) -> None:
    with pytest.raises(ValueRangeError, match=r"not in 0\.\.65535"):
        unpack(words, "uint32")


def test_odd_byte_count_is_not_registers() -> None:
    with pytest.raises(RegisterCountError):
        bytes_to_words(bytes.fromhex("3F8000"))


@pytest.mark.parametrize(
    ("data_type", "word", "byte", "scale", "offset"),
    [
        ("int8", "big", "big", 1.0, 0.0),
        ("float32", "middle", "big", 1.0, 0.0),
        ("float32", "big", "BIG", 1.0, 0.0),
        ("uint16", "big", "big", 0.0, 0.0),
        ("uint16", "big", "big", math.inf, 0.0),
        ("uint16", "big", "big", 1.0, math.nan),
    ],
)
def test_impossible_formats_are_refused(
    data_type: str, word: str, byte: str, scale: float, offset: float
) -> None:
    with pytest.raises(ModbusValueError):
        RegisterFormat(data_type, word, byte, scale, offset)


def test_bits_scale_and_offset_like_registers() -> None:
    plain = RegisterFormat("bool")
    assert (plain.count, plain.is_bit, register_count("bool")) == (1, True, 1)
    assert (decode_bit(True, plain), decode_bit(False, plain)) == (1.0, 0.0)
    assert decode_bit(True, RegisterFormat("bool", scale=5, offset=1)) == 6.0
    assert encode_bit(1.0, plain) is True
    assert encode_bit(0.0, plain) is False
    with pytest.raises(ModbusValueError):
        decode_value([1], plain)
    with pytest.raises(ModbusValueError):
        encode_value(1.0, plain)


orders = st.sampled_from(ORDERS)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(INT_RANGES)), st.data(), orders, orders)
def test_integers_round_trip(data_type: str, data: st.DataObject, word: str, byte: str) -> None:
    low, high = INT_RANGES[data_type]
    raw = data.draw(st.integers(low, high))
    words = pack(raw, data_type, word, byte)
    assert len(words) == register_count(data_type)
    assert all(0 <= w <= 0xFFFF for w in words)
    assert unpack(words, data_type, word, byte) == raw


@settings(max_examples=300, deadline=None)
@given(st.floats(width=32, allow_nan=False), orders, orders)
def test_float32_round_trips(raw: float, word: str, byte: str) -> None:
    assert unpack(pack(raw, "float32", word, byte), "float32", word, byte) == raw


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False), orders, orders)
def test_float64_round_trips(raw: float, word: str, byte: str) -> None:
    assert unpack(pack(raw, "float64", word, byte), "float64", word, byte) == raw


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(WORD_TYPES)), st.data(), orders, orders)
def test_any_registers_round_trip(
    data_type: str, data: st.DataObject, word: str, byte: str
) -> None:
    count = register_count(data_type)
    words = data.draw(st.lists(st.integers(0, 0xFFFF), min_size=count, max_size=count))
    raw = unpack(words, data_type, word, byte)
    if isinstance(raw, float) and math.isnan(raw):
        # A NaN's payload need not survive a Python float; it is refused as a reading anyway.
        with pytest.raises(ImpossibleValueError):
            decode_value(words, RegisterFormat(data_type, word, byte))
        return
    assert pack(raw, data_type, word, byte) == words
    assert words_to_bytes(words) == bytes.fromhex("".join(f"{w:04X}" for w in words))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(sorted(INT_RANGES)),
    st.data(),
    orders,
    orders,
    st.sampled_from([1.0, 0.1, 0.01, 0.001, -1.0, 10.0]),
    st.sampled_from([0.0, -40.0, 1000.5]),
)
def test_engineering_values_round_trip(
    data_type: str, data: st.DataObject, word: str, byte: str, scale: float, offset: float
) -> None:
    low, high = INT_RANGES[data_type]
    raw = data.draw(st.integers(low, high))
    fmt = RegisterFormat(data_type, word, byte, scale, offset)
    value = raw * scale + offset
    words = encode_value(value, fmt)
    assert unpack(words, data_type, word, byte) == raw
    assert decode_value(words, fmt) == pytest.approx(value)
