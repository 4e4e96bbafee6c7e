"""The DL/T 645 codec against the standard's worked frames, its data table, and fuzzed bytes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ems_edge.codecs import CHINA_STANDARD_TIME
from ems_edge.codecs.dlt645 import (
    MAX_DATA,
    DataItem,
    Dlt645Error,
    Dlt645FrameError,
    Dlt645MeterError,
    Frame,
    broadcast_time,
    data_item,
    data_items,
    decode,
    decode_value,
    describe_error,
    encode,
    encode_value,
    parse_address_reply,
    parse_broadcast_time,
    parse_read_reply,
    parse_read_request,
    read_address,
    read_data,
    reply_address,
    reply_error,
    reply_read,
)
from ems_edge.errors import CodecError

ADDRESS = "123456789012"


def wire(text: str) -> bytes:
    return bytes.fromhex(text)


# The worked frames of the reference: (hex on the wire, the frame, its preamble).
WORKED = [
    pytest.param(
        "FE FE FE FE 68 12 90 78 56 34 12 68 11 04 33 33 34 33 68 16",
        read_data(ADDRESS, "00010000"),
        4,
        id="2007-read-00010000",
    ),
    pytest.param(
        "FE FE FE FE 68 AA AA AA AA AA AA 68 13 00 DF 16", read_address(), 4, id="read-address"
    ),
    pytest.param(
        "68 99 99 99 99 99 99 68 08 06 3C 3B 3A 39 38 57 ED 16",
        broadcast_time(datetime(2024, 5, 6, 7, 8, 9, tzinfo=CHINA_STANDARD_TIME)),
        0,
        id="broadcast-time",
    ),
    pytest.param(
        "FE FE FE FE 68 12 90 78 56 34 12 68 01 02 43 C3 8F 16",
        read_data(ADDRESS, "9010", version=1997),
        4,
        id="1997-read-9010",
    ),
]

# Meter replies worked out by hand from the rules: (hex, DI, version, value).
REPLIES = [
    pytest.param(
        "68 12 90 78 56 34 12 68 91 08 33 33 34 33 AB 89 67 45 CC 16",
        "00010000",
        2007,
        123456.78,
        id="2007-energy",
    ),
    pytest.param(
        "FE FE FE FE 68 12 90 78 56 34 12 68 91 06 33 34 34 35 34 55 76 16",
        "02010100",
        2007,
        220.1,
        id="2007-voltage",
    ),
    pytest.param(
        "68 12 90 78 56 34 12 68 91 07 33 34 35 35 67 45 B3 4E 16",
        "02020100",
        2007,
        -1.234,
        id="2007-negative-current",
    ),
    pytest.param(
        "68 12 90 78 56 34 12 68 81 06 43 C3 89 67 45 33 7B 16",
        "9010",
        1997,
        1234.56,
        id="1997-energy",
    ),
]

ERROR_REPLIES = [
    pytest.param(
        "68 12 90 78 56 34 12 68 D1 01 35 8D 16", 2007, 0x02, "no such data", id="2007-no-data"
    ),
    pytest.param(
        "68 12 90 78 56 34 12 68 D1 01 38 90 16",
        2007,
        0x05,
        "other error, password error or unauthorised",
        id="2007-two-bits",
    ),
    pytest.param(
        "68 12 90 78 56 34 12 68 C1 01 35 7D 16",
        1997,
        0x02,
        "wrong data identifier",
        id="1997-bad-di",
    ),
]


@pytest.mark.parametrize(("hex_frame", "frame", "preamble"), WORKED)
def test_worked_frame_encodes(hex_frame: str, frame: Frame, preamble: int) -> None:
    assert encode(frame, preamble) == wire(hex_frame)


@pytest.mark.parametrize(("hex_frame", "frame", "preamble"), WORKED)
def test_worked_frame_decodes(hex_frame: str, frame: Frame, preamble: int) -> None:
    assert decode(wire(hex_frame)) == (len(wire(hex_frame)), frame)
    del preamble


def test_worked_broadcast_time_reads_back() -> None:
    _, frame = decode(wire("68 99 99 99 99 99 99 68 08 06 3C 3B 3A 39 38 57 ED 16"))
    assert frame is not None
    when = parse_broadcast_time(frame, CHINA_STANDARD_TIME)
    assert when == datetime(2024, 5, 5, 23, 8, 9, tzinfo=UTC)


@pytest.mark.parametrize(("hex_frame", "di", "version", "value"), REPLIES)
def test_reply_parses(hex_frame: str, di: str, version: int, value: float) -> None:
    consumed, frame = decode(wire(hex_frame))
    assert consumed == len(wire(hex_frame))
    assert frame is not None
    assert parse_read_reply(frame, di, version) == value


@pytest.mark.parametrize(("hex_frame", "di", "version", "value"), REPLIES)
def test_reply_encodes(hex_frame: str, di: str, version: int, value: float) -> None:
    preamble = wire(hex_frame).count(0xFE)
    assert encode(reply_read(ADDRESS, di, value, version), preamble) == wire(hex_frame)


def test_read_request_is_understood_as_a_meter_would() -> None:
    assert parse_read_request(read_data(ADDRESS, "02800002")) == ("02800002", 2007)
    assert parse_read_request(read_data(ADDRESS, "b611", 1997)) == ("B611", 1997)
    with pytest.raises(Dlt645FrameError, match="not a read request"):
        parse_read_request(read_address())


@pytest.mark.parametrize(("hex_frame", "version", "bits", "words"), ERROR_REPLIES)
def test_error_reply_is_a_meter_error_naming_the_bits(
    hex_frame: str, version: int, bits: int, words: str
) -> None:
    di = "00010000" if version == 2007 else "9010"
    _, frame = decode(wire(hex_frame))
    assert frame is not None
    assert encode(reply_error(ADDRESS, bits, version), 0) == wire(hex_frame)
    with pytest.raises(Dlt645MeterError) as caught:
        parse_read_reply(frame, di, version)
    assert str(caught.value) == f"DL/T 645 error reply: {words} (DI {di})"
    assert caught.value.bits == bits


def test_error_words_cover_every_bit() -> None:
    assert describe_error(0xFF) == (
        "other error, no such data, password error or unauthorised, baud rate cannot be "
        "changed, year time zones exceeded, day periods exceeded, tariffs exceeded, "
        "reserved bit 7"
    )
    assert describe_error(0) == "no error bit set"
    assert describe_error(None) == "no error byte given"
    with pytest.raises(Dlt645MeterError, match="no error byte given"):
        parse_read_reply(Frame(ADDRESS, 0xD1), "00010000")


def test_read_address_reply() -> None:
    hex_frame = "68 12 90 78 56 34 12 68 93 06 45 C3 AB 89 67 45 07 16"
    _, frame = decode(wire(hex_frame))
    assert frame == reply_address(ADDRESS)
    assert parse_address_reply(frame) == ADDRESS
    with pytest.raises(Dlt645MeterError, match="invalid BCD address"):
        parse_address_reply(Frame(ADDRESS, 0x93, bytes.fromhex("1A 00 00 00 00 00")))
    with pytest.raises(Dlt645FrameError, match="6"):
        parse_address_reply(Frame(ADDRESS, 0x93, b"\x12"))


def _samples(item: DataItem) -> list[float]:
    largest = (item.capacity - 1) / item.scale
    values = [0.0, 1 / item.scale, largest, round(largest / 3, item.decimals)]
    if item.signed:
        values += [-largest, -1 / item.scale]
    return values


ALL_ITEMS = data_items(2007) + data_items(1997)


@pytest.mark.parametrize("item", ALL_ITEMS, ids=[f"{i.version}-{i.di}" for i in ALL_ITEMS])
def test_every_data_identifier_round_trips(item: DataItem) -> None:
    for value in _samples(item):
        raw = encode(reply_read(ADDRESS, item.di, value, item.version))
        consumed, frame = decode(raw)
        assert consumed == len(raw)
        assert frame is not None
        assert parse_read_reply(frame, item.di, item.version) == value
        request = read_data(ADDRESS, item.di, item.version)
        assert parse_read_request(decode(encode(request))[1] or read_address()) == (
            item.di,
            item.version,
        )


def test_codec_errors_belong_to_the_agent_tree() -> None:
    assert issubclass(Dlt645FrameError, Dlt645Error)
    assert issubclass(Dlt645MeterError, Dlt645Error)
    assert issubclass(Dlt645Error, CodecError)


def test_table_rows_and_unverified_marks() -> None:
    assert len(data_items(2007)) == 87  # 24 listed + 63 forward active tariffs 01..3F
    assert data_item("00013F00").quantity == "forward active energy, tariff 3F"
    unverified = {(i.version, i.di) for i in ALL_ITEMS if not i.verified}
    assert unverified == {(2007, "02800007"), (1997, "B650")}
    assert data_item("b611", 1997).unit == "V"
    with pytest.raises(Dlt645Error, match="DI 02800099 is not in the DL/T 645-2007 table"):
        data_item("02800099")
    with pytest.raises(Dlt645Error, match="version 2010"):
        data_item("00010000", 2010)


@pytest.mark.parametrize(
    ("di", "value", "wrapped"),
    [
        ("00010000", 1_000_012.346, 12.35),  # a counter past 999999.99 kWh rolls over
        ("02010100", 1234.5, 234.5),
        ("02020100", -800.001, -0.001),  # 3 signed bytes hold 799.999 at most
    ],
)
def test_registers_wrap(di: str, value: float, wrapped: float) -> None:
    assert data_item(di).wrap(value) == pytest.approx(wrapped)


@pytest.mark.parametrize(
    ("di", "value", "message"),
    [
        ("00010000", 1_000_000.0, "does not fit"),
        ("00010000", -1.0, "unsigned"),
        ("02020100", 800.0, "does not fit"),
    ],
)
def test_values_that_do_not_fit_are_refused(di: str, value: float, message: str) -> None:
    with pytest.raises(Dlt645Error, match=message):
        encode_value(value, data_item(di))


@pytest.mark.parametrize(
    ("value_hex", "di"),
    [
        pytest.param("FF FF FF FF", "00010000", id="all-FF"),
        pytest.param("0A 00", "02010100", id="nibble-A"),
        pytest.param("00 00 8A", "02020100", id="signed-nibble-A"),
    ],
)
def test_invalid_bcd_is_a_meter_error(value_hex: str, di: str) -> None:
    with pytest.raises(Dlt645MeterError, match="invalid BCD"):
        decode_value(wire(value_hex), data_item(di))
    frame = Frame(ADDRESS, 0x91, bytes.fromhex(di)[::-1] + wire(value_hex))
    with pytest.raises(Dlt645MeterError, match=f"invalid BCD .* for DI {di}"):
        parse_read_reply(frame, di)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        pytest.param(Frame(ADDRESS, 0x91, wire("00 00 02 00 00 00 00 00")), "DI 00020000", id="di"),
        pytest.param(Frame(ADDRESS, 0x91, wire("00 00 01 00 00 00")), "2 value bytes", id="short"),
        pytest.param(Frame(ADDRESS, 0x11, wire("00 00 01 00")), "got control 11", id="request"),
        pytest.param(Frame(ADDRESS, 0x81, wire("00 00 01 00")), "got control 81", id="1997"),
    ],
)
def test_unexpected_replies_are_frame_errors(frame: Frame, message: str) -> None:
    with pytest.raises(Dlt645FrameError, match=message):
        parse_read_reply(frame, "00010000")


GOOD = wire("FE FE FE FE 68 12 90 78 56 34 12 68 11 04 33 33 34 33 68 16")


def test_garbage_before_a_frame_is_counted_as_consumed() -> None:
    garbage = wire("00 68 01 02 16 FF FE")  # a stray 68 without a second one 7 bytes later
    assert decode(garbage + GOOD + b"\x68") == (len(garbage) + len(GOOD), decode(GOOD)[1])


def test_all_garbage_is_consumed_and_an_incomplete_frame_waits() -> None:
    assert decode(wire("00 01 FE FE")) == (4, None)
    assert decode(b"") == (0, None)
    for cut in range(len(GOOD)):
        consumed, frame = decode(b"\x01\x02" + GOOD[:cut])
        assert frame is None
        assert consumed <= 2 + 4  # the garbage and the preamble, never the frame's own start


@pytest.mark.parametrize(
    ("hex_frame", "message"),
    [
        pytest.param("00 68 12 90 78 56 34 12 68 11 04 33 33 34 33 69 16", "checksum", id="cs"),
        pytest.param("00 68 12 90 78 56 34 12 68 11 04 33 33 34 33 68 17", "end byte", id="end"),
        pytest.param("00 68 12 90 78 56 34 12 68 11 C9", "length byte 201", id="length"),
    ],
)
def test_damaged_frames_raise_with_the_bytes_to_drop(hex_frame: str, message: str) -> None:
    with pytest.raises(Dlt645FrameError, match=message) as caught:
        decode(wire(hex_frame))
    assert caught.value.consumed == 2  # the garbage byte and the false start


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(lambda: Frame("12345678901", 0x11), "12 digits", id="short-address"),
        pytest.param(lambda: Frame("12345678901G", 0x11), "12 digits", id="letter"),
        pytest.param(lambda: Frame(ADDRESS, 256), "control", id="control"),
        pytest.param(lambda: Frame(ADDRESS, 0x11, bytes(MAX_DATA + 1)), "201", id="data"),
        pytest.param(lambda: encode(read_address(), 5), "preamble", id="preamble"),
        pytest.param(lambda: read_data(ADDRESS, "0001000"), "8 hex digits", id="di"),
        pytest.param(lambda: read_data(ADDRESS, "00010000", 1997), "4 hex digits", id="di-1997"),
        pytest.param(lambda: reply_error(ADDRESS, 256), "one byte", id="bits"),
        pytest.param(
            lambda: broadcast_time(datetime(1999, 12, 31, tzinfo=CHINA_STANDARD_TIME)),
            "year 1999",
            id="year",
        ),
    ],
)
def test_unencodable_input_is_refused(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(Dlt645Error, match=message):
        build()


def test_impossible_broadcast_time_is_refused() -> None:
    frame = Frame("999999999999", 0x08, wire("00 00 00 31 02 24"))  # 31 February
    with pytest.raises(Dlt645FrameError, match="not a date"):
        parse_broadcast_time(frame, CHINA_STANDARD_TIME)


frames = st.builds(
    Frame,
    address=st.text("0123456789ABCDEF", min_size=12, max_size=12),
    control=st.integers(0, 255),
    data=st.binary(max_size=MAX_DATA),
)


@settings(max_examples=300, deadline=None)
@given(
    frame=frames,
    preamble=st.integers(0, 4),
    garbage=st.binary(max_size=16).filter(lambda b: 0x68 not in b),
)
def test_random_frames_round_trip(frame: Frame, preamble: int, garbage: bytes) -> None:
    raw = garbage + encode(frame, preamble)
    assert decode(raw) == (len(raw), frame)
    assert decode(raw + raw)[0] == len(raw)


def _decode_all(buffer: bytes) -> None:
    """Decode ``buffer`` as a link would, asserting progress and the error contract."""
    for _ in range(len(buffer) + 1):
        damaged = False
        try:
            consumed, frame = decode(buffer)
        except Dlt645FrameError as exc:  # any other exception escapes and fails the test
            consumed, frame, damaged = exc.consumed, None, True
        assert 0 <= consumed <= len(buffer)
        if damaged:
            assert consumed >= 1
        elif frame is None:
            return
        else:
            assert consumed >= 12
        buffer = buffer[consumed:]
    raise AssertionError("the decoder stopped making progress")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(buffer: bytes) -> None:
    _decode_all(buffer)
    _decode_all(b"\x68" + buffer)


@settings(max_examples=300, deadline=None)
@given(frame=frames, preamble=st.integers(0, 4), data=st.data())
def test_fuzz_truncated_frames(frame: Frame, preamble: int, data: st.DataObject) -> None:
    raw = encode(frame, preamble)
    cut = data.draw(st.integers(0, len(raw) - 1))
    consumed, found = decode(raw[:cut])
    assert found is None
    assert consumed <= preamble


@settings(max_examples=300, deadline=None)
@given(
    frame=frames,
    preamble=st.integers(0, 4),
    edits=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)), min_size=1, max_size=4),
)
def test_fuzz_mutated_frames(frame: Frame, preamble: int, edits: list[tuple[int, int]]) -> None:
    raw = bytearray(encode(frame, preamble))
    for position, byte in edits:
        raw[position % len(raw)] = byte
    _decode_all(bytes(raw))
    _decode_all(bytes(raw[: len(raw) // 2]) + GOOD)
