"""The CJ/T 188 codec against the standard's example, replies built from the layout, and fuzz."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ems_edge.codecs import CHINA_STANDARD_TIME
from ems_edge.codecs.cjt188 import (
    HEAT_FIELDS,
    WATER_GAS_FIELDS,
    Cjt188Error,
    Cjt188FrameError,
    Cjt188MeterError,
    Frame,
    HeatReading,
    MeterStatus,
    WaterGasReading,
    checksum,
    decode,
    decode_clock,
    encode,
    parse_address_reply,
    parse_read_data_reply,
    parse_request,
    read_address,
    read_data,
    reply_address,
    reply_error,
    reply_heat,
    reply_water_gas,
    unit_codes,
)
from ems_edge.errors import CodecError

ADDRESS = "78330011223344"  # the standard's example: 44 33 22 11 00 33 78 on the wire
CLOCK = datetime(2024, 5, 6, 7, 8, 9, tzinfo=CHINA_STANDARD_TIME)
CLOCK_WIRE = "09 08 07 06 05 24 20"


def wire(text: str) -> bytes:
    return bytes.fromhex(text)


# Requests: (hex on the wire, the frame, preamble).
REQUESTS = [
    pytest.param(
        "68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 16",
        read_data(0x10, ADDRESS, 0),
        0,
        id="standard-example",
    ),
    pytest.param(
        "68 10 44 33 22 11 00 33 78 01 03 90 1F 00 80 16",
        read_data(0x10, ADDRESS, 0, "swapped"),
        0,
        id="example-swapped-di",
    ),
    pytest.param(
        "FE FE 68 30 44 33 22 11 00 33 78 01 03 1F 90 2A CA 16",
        read_data(0x30, ADDRESS, 0x2A),
        2,
        id="gas-ser-2a-preamble",
    ),
    pytest.param(
        "68 AA AA AA AA AA AA AA AA 03 03 0A 81 00 49 16",
        read_address(0),
        0,
        id="read-address",
    ),
    pytest.param(
        "FE FE FE FE 68 AA AA AA AA AA AA AA AA 03 03 81 0A 05 4E 16",
        read_address(5, "swapped"),
        4,
        id="read-address-swapped",
    ),
]


@pytest.mark.parametrize(("hex_frame", "frame", "preamble"), REQUESTS)
def test_requests_encode_and_decode_exactly(hex_frame: str, frame: Frame, preamble: int) -> None:
    raw = wire(hex_frame)
    assert encode(frame, preamble) == raw
    assert decode(raw) == (len(raw), frame)


@pytest.mark.parametrize(
    ("hex_frame", "di", "order", "ser"),
    [
        ("68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 16", 0x901F, "standard", 0),
        ("68 10 44 33 22 11 00 33 78 01 03 90 1F 00 80 16", 0x901F, "swapped", 0),
        ("68 AA AA AA AA AA AA AA AA 03 03 0A 81 00 49 16", 0x810A, "standard", 0),
    ],
)
def test_request_di_is_read_in_either_order(hex_frame: str, di: int, order: str, ser: int) -> None:
    _, frame = decode(wire(hex_frame))
    assert frame is not None
    request = parse_request(frame)
    assert (request.di, request.di_order, request.ser) == (di, order, ser)


def build_reply(meter_type: int, data: bytes, address: str = ADDRESS, control: int = 0x81) -> bytes:
    """A reply assembled by hand: header, DATA, checksum over 68..DATA, end byte."""
    body = bytes([0x68, meter_type]) + wire(address)[::-1] + bytes([control, len(data)]) + data
    return body + bytes([sum(body) % 256, 0x16])


def water_data(di: str, ser: int, status: str = "05 00") -> bytes:
    """DATA of a water reply (L=22) at the reference's offsets."""
    data = bytearray(22)
    data[0:3] = wire(di) + bytes([ser])
    data[3:8] = wire("67 45 23 01 2C")  # 12345.67 m3
    data[8:13] = wire("00 00 20 01 2C")  # 12000.00 m3
    data[13:20] = wire(CLOCK_WIRE)
    data[20:22] = wire(status)
    return bytes(data)


def heat_data(di: str, ser: int) -> bytes:
    """DATA of a heat reply (L=46) at offsets 3, 8, 13, 18, 23, 28, 31, 34, 37, 44."""
    data = bytearray(46)
    data[0:3] = wire(di) + bytes([ser])
    data[3:8] = wire("00 50 34 12 05")  # settlement heat 123450.00 kWh
    data[8:13] = wire("99 78 56 34 05")  # current heat 345678.99 kWh
    data[13:18] = wire("50 12 00 00 17")  # thermal power 12.50 kW
    data[18:23] = wire("34 12 00 00 35")  # flow 0.1234 m3/h
    data[23:28] = wire("25 01 00 00 2C")  # cumulative volume 1.25 m3
    data[28:31] = wire("50 60 00")  # supply 60.50 C
    data[31:34] = wire("25 45 00")  # return 45.25 C
    data[34:37] = wire("56 34 12")  # 123456 h
    data[37:44] = wire(CLOCK_WIRE)
    data[44:46] = wire("00 00")
    return bytes(data)


@pytest.mark.parametrize(("di", "order"), [("1F 90", "standard"), ("90 1F", "swapped")])
@pytest.mark.parametrize("meter_type", [0x10, 0x30])
def test_water_gas_reply_by_layout(di: str, order: str, meter_type: int) -> None:
    raw = wire("FE FE") + build_reply(meter_type, water_data(di, 0x17))
    assert raw[2 + 10] == 0x16  # L = 22
    consumed, frame = decode(raw)
    assert consumed == len(raw) and frame is not None
    reading = parse_read_data_reply(frame, 0x17)
    assert isinstance(reading, WaterGasReading)
    assert (reading.meter_type, reading.address, reading.di_order) == (meter_type, ADDRESS, order)
    assert reading.current_volume.value == pytest.approx(12345.67)
    assert reading.current_volume.unit == "m3"
    assert reading.quantity("settlement_volume").value == pytest.approx(12000.0)
    assert reading.clock == CLOCK
    assert reading.status.valve == "closed" and reading.status.battery_low


@pytest.mark.parametrize(("di", "order"), [("1F 90", "standard"), ("90 1F", "swapped")])
def test_heat_reply_by_layout(di: str, order: str) -> None:
    raw = build_reply(0x20, heat_data(di, 0x80))
    assert raw[10] == 0x2E  # L = 46
    _, frame = decode(raw)
    assert frame is not None
    reading = parse_read_data_reply(frame, 0x80)
    assert isinstance(reading, HeatReading)
    assert reading.di_order == order
    values = {
        name: (reading.quantity(name).value, reading.quantity(name).unit) for name in HEAT_FIELDS
    }
    assert values == {
        "settlement_heat": (pytest.approx(123450.0), "kWh"),
        "current_heat": (pytest.approx(345678.99), "kWh"),
        "thermal_power": (pytest.approx(12.5), "kW"),
        "flow": (pytest.approx(0.1234), "m3/h"),
        "cumulative_volume": (pytest.approx(1.25), "m3"),
        "supply_temperature": (pytest.approx(60.5), "C"),
        "return_temperature": (pytest.approx(45.25), "C"),
        "working_hours": (pytest.approx(123456.0), "h"),
    }
    assert reading.clock == CLOCK
    assert reading.status.describe() == "valve open, battery ok"


def test_reply_encoders_match_the_hand_built_frames() -> None:
    water = reply_water_gas(
        0x10,
        ADDRESS,
        0x17,
        {"current_volume": 12345.67, "settlement_volume": 12000},
        clock=CLOCK,
        status=wire("05 00"),
    )
    assert encode(water) == build_reply(0x10, water_data("1F 90", 0x17))
    heat = reply_heat(
        0x20,
        ADDRESS,
        0x80,
        {
            "settlement_heat": 123450,
            "current_heat": 345678.99,
            "thermal_power": 12.5,
            "flow": 0.1234,
            "cumulative_volume": 1.25,
            "supply_temperature": 60.5,
            "return_temperature": 45.25,
            "working_hours": 123456,
        },
        clock=CLOCK,
        di_order="swapped",
    )
    assert encode(heat, 2) == wire("FE FE") + build_reply(0x20, heat_data("90 1F", 0x80))


def test_unit_factor_and_unknown_unit_code() -> None:
    data = bytearray(water_data("1F 90", 1))
    data[7] = 0x0A  # MWh x 100: nonsense for a water meter, but the table says what it is
    data[12] = 0x3F  # not in the table
    _, frame = decode(build_reply(0x10, bytes(data)))
    assert frame is not None
    reading = parse_read_data_reply(frame, 1)
    assert reading.quantity("current_volume").value == pytest.approx(1234567.0)
    assert reading.quantity("current_volume").unit == "MWh"
    assert reading.quantity("settlement_volume").unit is None
    assert reading.quantity("settlement_volume").unit_code == 0x3F


@pytest.mark.parametrize(
    ("hex_data", "explained"),
    [
        ("07 03 00", "valve abnormal (ST 03 00)"),
        ("07 05 00", "valve closed, battery low (ST 05 00)"),
        ("07 00 00", "valve open, battery ok (ST 00 00)"),
        ("1F 90 07 04 80", "battery low, other status bits 00 80 (ST 04 80)"),
    ],
)
def test_error_reply_is_a_meter_error_explained(hex_data: str, explained: str) -> None:
    _, frame = decode(build_reply(0x10, wire(hex_data), control=0xC1))
    assert frame is not None
    with pytest.raises(Cjt188MeterError, match="error reply") as caught:
        parse_read_data_reply(frame, 7)
    assert str(caught.value).endswith(explained)


def test_error_reply_encoder() -> None:
    frame = reply_error(0x10, ADDRESS, 7, wire("03 00"))
    assert encode(frame) == build_reply(0x10, wire("07 03 00"), control=0xC1)


@pytest.mark.parametrize(
    ("raw", "ser", "message"),
    [
        pytest.param(build_reply(0x10, water_data("1F 90", 8)), 9, "SER 08, not 09", id="ser"),
        pytest.param(build_reply(0x10, wire("08 03 00"), control=0xC1), 9, "SER", id="error-ser"),
        pytest.param(build_reply(0x10, water_data("20 90", 9)), 9, "DI 9020", id="di"),
        pytest.param(build_reply(0x10, water_data("1F 90", 9), control=0x83), 9, "control", id="c"),
        pytest.param(build_reply(0x10, wire("1F 90")), None, "too short", id="short"),
    ],
)
def test_a_reply_to_another_request_is_a_frame_error(raw: bytes, ser: int, message: str) -> None:
    _, frame = decode(raw)
    assert frame is not None
    with pytest.raises(Cjt188FrameError, match=message):
        parse_read_data_reply(frame, ser)


@pytest.mark.parametrize(
    ("offset", "byte", "message"),
    [(3, 0x6A, "invalid BCD in current_volume"), (29, 0xF0, "invalid BCD in supply_temperature")],
)
def test_invalid_bcd_is_a_meter_error(offset: int, byte: int, message: str) -> None:
    data = bytearray(heat_data("1F 90", 1) if offset > 21 else water_data("1F 90", 1))
    data[offset] = byte
    _, frame = decode(build_reply(0x20 if offset > 21 else 0x10, bytes(data)))
    assert frame is not None
    with pytest.raises(Cjt188MeterError, match=message):
        parse_read_data_reply(frame, 1)


def test_unexpected_length_is_a_meter_error() -> None:
    _, frame = decode(build_reply(0x10, water_data("1F 90", 1) + b"\x00"))
    assert frame is not None
    with pytest.raises(Cjt188MeterError, match="unexpected length 23"):
        parse_read_data_reply(frame, 1)


@pytest.mark.parametrize(
    "clock", ["00 00 00 00 00 00 00", "FF FF FF FF FF FF FF", "00 00 00 31 02 24 20"]
)
def test_a_meter_without_a_clock_still_gives_its_volumes(clock: str) -> None:
    assert decode_clock(wire(clock)) is None
    data = bytearray(water_data("1F 90", 1))
    data[13:20] = wire(clock)
    _, frame = decode(build_reply(0x10, bytes(data)))
    assert frame is not None
    reading = parse_read_data_reply(frame, 1)
    assert reading.clock is None and reading.quantity("current_volume").value == pytest.approx(
        12345.67
    )


@pytest.mark.parametrize("di_order", ["standard", "swapped"])
def test_address_reply(di_order: str) -> None:
    raw = encode(reply_address(0x10, ADDRESS, 3, di_order), 2)
    _, frame = decode(raw)
    assert frame is not None and parse_address_reply(frame, 3) == ADDRESS
    with pytest.raises(Cjt188FrameError):
        parse_read_data_reply(frame, 3)


@pytest.mark.parametrize(
    ("raw", "consumed"),
    [
        pytest.param("", 0, id="empty"),
        pytest.param("FE FE 00 12", 4, id="no-start"),
        pytest.param("FE FE 68 10 44 33", 2, id="header-incomplete"),
        pytest.param("00 68 10 44 33 22 11 00 33 78 01 03 1F 90", 1, id="data-incomplete"),
    ],
)
def test_decode_waits_for_more(raw: str, consumed: int) -> None:
    assert decode(wire(raw)) == (consumed, None)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("FE 68 10 44 33 22 11 00 33 78 01 03 1F 90 00 81 16", "checksum mismatch"),
        ("FE 68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 17", "ends with 17"),
    ],
)
def test_decode_refuses_a_garbled_frame(raw: str, message: str) -> None:
    with pytest.raises(Cjt188FrameError, match=message) as caught:
        decode(wire(raw))
    assert caught.value.consumed == 2  # past the bad frame's 68, so a reader can resynchronise


@pytest.mark.parametrize(
    "noise",
    [
        pytest.param("68 00 00", id="68-claiming-a-long-frame"),
        pytest.param("68 10 44 33 22 11 00 33 78 01 00 00 16", id="complete-bad-frame"),
    ],
)
def test_decode_finds_the_frame_after_noise_with_a_68(noise: str) -> None:
    good = wire("68 10 44 33 22 11 00 33 78 01 03 1F 90 00 80 16")
    raw = wire(noise) + good + wire("68 10")
    assert decode(raw) == (len(raw) - 2, read_data(0x10, ADDRESS, 0))


def test_status_and_unit_table() -> None:
    assert MeterStatus(wire("03 00")).valve == "abnormal"
    table = unit_codes()
    assert table[0x2C].unit == "m3" and table[0x2C].verified
    assert not any(entry.verified for code, entry in table.items() if code != 0x2C)
    assert table[0x13].unit == "GJ" and table[0x13].factor == 100
    assert set(WATER_GAS_FIELDS) == {"current_volume", "settlement_volume"}


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode(read_data(0x10, "1234", 0)),
        lambda: encode(Frame(0x10, ADDRESS, 0x81, bytes(256))),
        lambda: reply_water_gas(
            0x10, ADDRESS, 1, {"current_volume": 1e6, "settlement_volume": 0}, clock=CLOCK
        ),
        lambda: reply_water_gas(
            0x10,
            ADDRESS,
            1,
            {"current_volume": 1, "settlement_volume": 0},
            clock=datetime(2024, 1, 1),  # noqa: DTZ001 - the naive datetime is the point
        ),
    ],
    ids=["short-address", "data-too-long", "value-too-large", "naive-clock"],
)
def test_encoders_refuse_what_the_wire_cannot_carry(call: Callable[[], object]) -> None:
    with pytest.raises(Cjt188Error):
        call()


# ----------------------------------------------------------------------------- properties

frames = st.builds(
    Frame,
    meter_type=st.integers(0, 255),
    address=st.text(alphabet="0123456789ABCDEF", min_size=14, max_size=14),
    control=st.integers(0, 255),
    data=st.binary(max_size=255),
)


@settings(max_examples=300, deadline=None)
@given(frame=frames, preamble=st.integers(0, 4), noise=st.binary(max_size=8))
def test_round_trip(frame: Frame, preamble: int, noise: bytes) -> None:
    noise = noise.replace(b"\x68", b"")
    raw = noise + encode(frame, preamble)
    assert decode(raw) == (len(raw), frame)
    assert checksum(raw[len(noise) + preamble : -2]) == raw[-2]


def check_decode(buffer: bytes) -> None:
    """Decode raises only codec errors and consumes within the buffer; replies parse or raise."""
    skip = None
    try:
        consumed, frame = decode(buffer)
    except CodecError as exc:
        skip = getattr(exc, "consumed", 1)
    if skip is not None:
        assert 0 < skip <= len(buffer)
        return
    assert 0 <= consumed <= len(buffer)
    if frame is not None:
        assert consumed > 0
        with contextlib.suppress(CodecError):
            parse_read_data_reply(frame, 0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(buffer: bytes) -> None:
    check_decode(buffer)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_truncated_and_mutated_replies(data: st.DataObject) -> None:
    heat = data.draw(st.booleans())
    body = heat_data("1F 90", 0) if heat else water_data("1F 90", 0)
    raw = bytearray(build_reply(0x20 if heat else 0x10, body))
    for _ in range(data.draw(st.integers(0, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    check_decode(bytes(raw[:cut]))
    check_decode(bytes(raw))


@settings(max_examples=200, deadline=None)
@given(st.lists(frames, min_size=1, max_size=4), st.binary(max_size=20))
def test_a_stream_of_frames_decodes_in_order(stream: list[Frame], noise: bytes) -> None:
    buffer = noise.replace(b"\x68", b"") + b"".join(encode(f, 2) for f in stream)
    found = []
    while buffer:
        consumed, frame = decode(buffer)
        buffer = buffer[consumed:]
        if frame is None:
            break
        found.append(frame)
    assert found == stream
