"""The agent configuration: every refusal is a ConfigError naming the line and the field.

Documents are built from two templates: ``MINIMAL`` (one manual bus, the least a
gateway accepts) and ``FULL`` (a Modbus TCP bus, TLS and time sync, with an
``@level`` marker line where each level of the document can take extra keys).
Line numbers are never hard-coded: they are looked up in the text under test.
"""

from __future__ import annotations

import base64
import csv
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

import ems_edge
from ems_edge.agent import buffer_capacity
from ems_edge.cli import main
from ems_edge.config import AgentConfig, collection_floors, load_config, parse_config
from ems_edge.errors import ConfigError

from .harness import ANY_DC_KEY, GATEWAY_KEY

SOURCE = "agent.yaml"
SIGNING_KEY = base64.b64encode(GATEWAY_KEY.private_bytes_raw()).decode()
EDGE_AGENT = Path(ems_edge.__file__).resolve().parents[1]
FLOORS_CSV = EDGE_AGENT / "ems_edge" / "data" / "collection_floors.csv"

#: Readings per hour at least, per energy type (construction code 4.3.6), written out here
#: independently of the CSV the agent reads.
FLOORS_PER_HOUR = {
    "electricity": 2,
    "generation": 2,
    "steam": 2,
    "coal": 2,
    "gas": 2,
    "oil": 2,
    "heat": 1,
    "cold": 1,
    "water": 1,
    "environment": 12,
}

MINIMAL = f"""\
gateway:
  id: gw-test-01
  signing_key: {SIGNING_KEY}
data_centres:
  - name: dc1
    host: 127.0.0.1
    key: {ANY_DC_KEY}
buses:
  - name: yard
    kind: manual
    meters:
      - id: COAL
        points:
          - id: COAL.in
            energy_type: coal
            kind: cumulative
            unit: t
            interval: 8h
"""

FULL = f"""\
gateway:
  id: gw-test-01
  signing_key: {SIGNING_KEY}
  status_port: 0
@gateway
time_sync:
  broadcast_every: 1d
@time_sync
data_centres:
  - name: dc1
    host: 127.0.0.1
    port: 1883
    key: {ANY_DC_KEY}
    tls:
      ca_file: ca.pem
@tls
@data_centre
buses:
  - name: line-1
    kind: modbus-tcp
    host: 127.0.0.1
    port: 1502
@bus
    meters:
      - id: MB1
        unit_id: 1
@meter
        points:
          - id: MB1.ep
            energy_type: electricity
            kind: cumulative
            unit: kWh
            interval: 15min
@point
            register:
              function: holding
              address: 0
              type: float32
@register
@top
"""

#: marker -> (indentation, dotted path of the mapping the marker sits in)
LEVELS = {
    "top": (0, ""),
    "gateway": (2, "gateway"),
    "time_sync": (2, "time_sync"),
    "data_centre": (4, "data_centres[0]"),
    "tls": (6, "data_centres[0].tls"),
    "bus": (4, "buses[0]"),
    "meter": (8, "buses[0].meters[0]"),
    "point": (12, "buses[0].meters[0].points[0]"),
    "register": (14, "buses[0].meters[0].points[0].register"),
}


def full(**extra: str) -> str:
    """``FULL`` with ``extra[level]`` (YAML lines) inserted at that level's marker."""
    unknown = set(extra) - set(LEVELS)
    assert not unknown, unknown
    out: list[str] = []
    for line in FULL.splitlines():
        if line.startswith("@"):
            level = line[1:]
            indent = " " * LEVELS[level][0]
            out.extend(indent + text for text in extra.get(level, "").splitlines())
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def edit(text: str, old: str, new: str) -> str:
    """``text`` with the single occurrence of ``old`` replaced."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """The 1-based line of the ``occurrence``-th line containing ``needle``."""
    hits = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) >= occurrence, f"{needle!r} found on lines {hits}"
    return hits[occurrence - 1]


def refused(text: str, base: Path | None = None) -> str:
    """The message of the ConfigError that ``text`` is refused with."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text, SOURCE, base)
    return str(caught.value)


def assert_names(message: str, line: int, path: str) -> None:
    """The message starts with the file, the line and the dotted path of the field."""
    prefix = f"{SOURCE} line {line}: {path}: " if path else f"{SOURCE} line {line}: "
    assert message.startswith(prefix), f"{message!r} does not start with {prefix!r}"


# -- documents that are accepted ---------------------------------------------------------


def test_minimal_document_is_accepted() -> None:
    config = parse_config(MINIMAL, SOURCE)
    assert config.gateway.id == "gw-test-01"
    assert [dc.name for dc in config.data_centres] == ["dc1"]
    assert [p.id for p in config.points()] == ["COAL.in"]
    assert config.points()[0].interval == 8 * 3600


def test_full_document_is_accepted() -> None:
    config = parse_config(full(), SOURCE, Path("/etc/ems-edge"))
    assert config.gateway.status_port == 0
    tls = config.data_centres[0].tls
    assert tls is not None and tls.ca_file == Path("/etc/ems-edge/ca.pem")
    assert config.buses[0].kind == "modbus-tcp"
    assert config.points()[0].interval == 900


def test_example_configuration_validates() -> None:
    config = load_config(EDGE_AGENT / "examples" / "agent.yaml")
    assert config.gateway.id == "gw-demo-01"
    assert len(config.data_centres) == 2
    assert {b.kind for b in config.buses} == {"dlt645-serial", "modbus-tcp", "cjt188-tcp", "manual"}
    assert len(config.points()) == 5


def test_utf8_file_with_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "agent.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL.encode())
    assert load_config(path).gateway.id == "gw-test-01"


def test_version_follows_the_text(tmp_path: Path) -> None:
    first = parse_config(MINIMAL, SOURCE)
    assert parse_config(MINIMAL, "elsewhere").version == first.version
    assert parse_config(MINIMAL + "# a comment\n", SOURCE).version != first.version
    changed = edit(MINIMAL, "interval: 8h", "interval: 12h")
    assert parse_config(changed, SOURCE).version != first.version
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_config(path).version == first.version


# -- the collection floors -----------------------------------------------------------------


def _floor_rows() -> list[dict[str, str]]:
    with FLOORS_CSV.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_floor_table_has_a_source_on_every_row() -> None:
    rows = _floor_rows()
    assert {row["energy_type"] for row in rows} == set(FLOORS_PER_HOUR)
    for row in rows:
        assert row["source"].strip(), f"{row['energy_type']} has no source"
        assert "4.3.6" in row["source"]
        assert int(row["min_readings_per_hour"]) == FLOORS_PER_HOUR[row["energy_type"]]


def test_agent_reads_the_floor_table() -> None:
    floors = collection_floors()
    assert {name: f.min_readings_per_hour for name, f in floors.items()} == FLOORS_PER_HOUR
    assert floors["environment"].max_interval == 300


def _with_point(energy_type: str, interval: str) -> str:
    text = edit(full(), "energy_type: electricity", f"energy_type: {energy_type}")
    return edit(text, "interval: 15min", f"interval: {interval}")


@pytest.mark.parametrize("energy_type", sorted(FLOORS_PER_HOUR))
def test_polling_slower_than_the_floor_is_refused_citing_the_clause(energy_type: str) -> None:
    floor = 3600 // FLOORS_PER_HOUR[energy_type]
    text = _with_point(energy_type, f"{floor + 1}s")
    message = refused(text)
    assert_names(message, line_of(text, "interval:"), "buses[0].meters[0].points[0].interval")
    source = next(r["source"] for r in _floor_rows() if r["energy_type"] == energy_type)
    assert source in message
    assert f"{floor + 1} s" in message and energy_type in message


@pytest.mark.parametrize("energy_type", sorted(FLOORS_PER_HOUR))
def test_polling_exactly_at_the_floor_is_accepted_in_every_unit(energy_type: str) -> None:
    floor = 3600 // FLOORS_PER_HOUR[energy_type]
    for written in (f"{floor}", f"{floor}s", f"{floor // 60}min", f"{floor * 1000}ms"):
        config = parse_config(_with_point(energy_type, written), SOURCE)
        assert config.points()[0].interval == floor, written
    refused(_with_point(energy_type, f"{floor}.001s"))


@st.composite
def _interval(draw: st.DrawFn) -> tuple[str, int, str]:
    energy_type = draw(st.sampled_from(sorted(FLOORS_PER_HOUR)))
    floor_ms = 3_600_000 // FLOORS_PER_HOUR[energy_type]
    ms = draw(st.integers(min_value=1000, max_value=3 * floor_ms))
    seconds = f"{ms // 1000}.{ms % 1000:03d}"
    written = draw(st.sampled_from([f"{ms}ms", f"{seconds}s", seconds]))
    return energy_type, ms, written


@settings(max_examples=200, deadline=None)
@given(_interval())
def test_any_interval_within_the_floor_is_accepted_and_any_beyond_refused(
    case: tuple[str, int, str],
) -> None:
    energy_type, ms, written = case
    floor_ms = 3_600_000 // FLOORS_PER_HOUR[energy_type]
    text = _with_point(energy_type, written)
    if ms <= floor_ms:
        assert parse_config(text, SOURCE).points()[0].interval == pytest.approx(ms / 1000)
    else:
        message = refused(text)
        assert_names(message, line_of(text, "interval:"), "buses[0].meters[0].points[0].interval")
        assert "slower than the floor" in message


def test_manual_points_have_no_floor() -> None:
    config = parse_config(edit(MINIMAL, "interval: 8h", "interval: 1d"), SOURCE)
    assert config.points()[0].interval == 86400
    environment = edit(MINIMAL, "energy_type: coal", "energy_type: environment")
    assert parse_config(environment, SOURCE).points()[0].interval == 8 * 3600


def test_unknown_energy_type_is_refused() -> None:
    text = edit(MINIMAL, "energy_type: coal", "energy_type: plutonium")
    message = refused(text)
    assert_names(message, line_of(text, "plutonium"), "buses[0].meters[0].points[0].energy_type")
    assert "'plutonium'" in message and "electricity" in message


# -- duplicates ----------------------------------------------------------------------------


def _dlt645_bus(name: str, port: int, *meters: tuple[str, str, str]) -> str:
    """A dlt645-tcp bus in ``buses``; each meter is (meter id, address, point id)."""
    lines = [
        f"  - name: {name}",
        "    kind: dlt645-tcp",
        "    host: 127.0.0.1",
        f"    port: {port}",
    ]
    lines.append("    meters:")
    for meter_id, address, point_id in meters:
        lines += [f"      - id: {meter_id}", f'        address: "{address}"', "        points:"]
        lines += [f"          - id: {point_id}", "            energy_type: electricity"]
        lines += [
            "            kind: cumulative",
            "            unit: kWh",
            '            di: "00010000"',
        ]
    return "\n".join(lines) + "\n"


def test_duplicate_meter_address_on_one_bus_is_refused() -> None:
    same = _dlt645_bus(
        "rs485-1", 4001, ("EM1", "000000000001", "EM1.ep"), ("EM2", "000000000001", "EM2.ep")
    )
    text = MINIMAL + same
    message = refused(text)
    assert_names(message, line_of(text, "- id: EM2"), "buses[1].meters[1]")
    first = line_of(text, "- id: EM1")
    assert f"duplicate meter address on bus 'rs485-1' '000000000001' (first at line {first})" in (
        message
    )


def test_same_meter_address_on_two_buses_is_accepted() -> None:
    one = _dlt645_bus("rs485-1", 4001, ("EM1", "000000000001", "EM1.ep"))
    two = _dlt645_bus("rs485-2", 4002, ("EM2", "000000000001", "EM2.ep"))
    assert len(parse_config(MINIMAL + one + two, SOURCE).buses) == 3


def test_duplicate_modbus_unit_id_is_refused() -> None:
    meter = (
        "- id: MB2\n  unit_id: 1\n  points:\n    - id: MB2.heat\n      energy_type: heat\n"
        "      kind: cumulative\n      unit: GJ\n"
        "      register: {function: input, address: 0, type: uint16}"
    )
    anchor = "              type: float32\n"
    text = edit(full(), anchor, anchor + "".join(f"      {line}\n" for line in meter.splitlines()))
    message = refused(text)
    assert_names(message, line_of(text, "- id: MB2"), "buses[0].meters[1]")
    assert "duplicate meter address on bus 'line-1' '1'" in message


def test_duplicate_point_id_across_buses_is_refused() -> None:
    text = MINIMAL + _dlt645_bus("rs485-1", 4001, ("EM1", "000000000001", "COAL.in"))
    message = refused(text)
    assert_names(message, line_of(text, "- id: COAL.in", 2), "buses[1].meters[0].points[0].id")
    assert f"duplicate point id 'COAL.in' (first at line {line_of(text, '- id: COAL.in')})" in (
        message
    )


def test_duplicate_bus_name_is_refused() -> None:
    text = MINIMAL + _dlt645_bus("yard", 4001, ("EM1", "000000000001", "EM1.ep"))
    message = refused(text)
    assert_names(message, line_of(text, "- name: yard", 2), "buses[1].name")
    assert "duplicate bus name 'yard'" in message


def test_two_buses_on_one_tcp_endpoint_are_refused() -> None:
    # FULL ends with its buses list, so a bus appended to the text is its second bus.
    text = full() + _dlt645_bus("rs485-1", 1502, ("EM1", "000000000001", "EM1.ep"))
    message = refused(text)
    assert_names(message, line_of(text, "- name: rs485-1"), "buses[1]")
    assert "duplicate bus line" in message and "tcp:127.0.0.1:1502" in message


def test_two_buses_on_one_host_with_different_ports_are_accepted() -> None:
    text = full() + _dlt645_bus("rs485-1", 1503, ("EM1", "000000000001", "EM1.ep"))
    assert len(parse_config(text, SOURCE).buses) == 2


def test_duplicate_data_centre_name_is_refused() -> None:
    second = f"  - name: dc1\n    host: 127.0.0.2\n    key: {ANY_DC_KEY}\n"
    text = edit(MINIMAL, "buses:\n", second + "buses:\n")
    message = refused(text)
    assert_names(message, line_of(text, "- name: dc1", 2), "data_centres[1].name")
    assert "duplicate data centre name 'dc1'" in message


# -- data types ----------------------------------------------------------------------------

POINT = "buses[0].meters[0].points[0]"


@pytest.mark.parametrize(
    ("level", "insert", "path", "words"),
    [
        ("gateway", "buffer_days: '20'", "gateway.buffer_days", "must be a number, not '20'"),
        ("gateway", "batch_size: '500'", "gateway.batch_size", "must be an integer, not '500'"),
        ("gateway", "batch_size: true", "gateway.batch_size", "must be an integer, not True"),
        ("gateway", "live_split: 1.5", "gateway.live_split", "must be an integer, not 1.5"),
        ("gateway", "replay_rate: [1000]", "gateway.replay_rate", "must be an integer"),
        ("data_centre", "keepalive: yes", "data_centres[0].keepalive", "is not a duration"),
        ("tls", "insecure_skip_verify: 'no'", "data_centres[0].tls.insecure_skip_verify", "true"),
        ("bus", "retries: false", "buses[0].retries", "must be an integer, not False"),
        ("bus", "timeout: {s: 1}", "buses[0].timeout", "is not a duration"),
        ("meter", "name: [a, b]", "buses[0].meters[0].name", "must be a non-empty string"),
        ("point", "data_code: {a: 1}", f"{POINT}.data_code", "must be a non-empty string"),
        ("register", "scale: '2'", f"{POINT}.register.scale", "must be a number, not '2'"),
    ],
)
def test_wrong_data_type_is_refused(level: str, insert: str, path: str, words: str) -> None:
    text = full(**{level: insert})
    message = refused(text)
    assert_names(message, line_of(text, insert), path)
    assert words in message


@pytest.mark.parametrize(
    ("old", "new", "path", "words"),
    [
        ("  status_port: 0\n", "  status_port: true\n", "gateway.status_port", "not True"),
        ("    port: 1883\n", "    port: '1883'\n", "data_centres[0].port", "not '1883'"),
        ("    unit_id: 1\n", "    unit_id: yes\n", "buses[0].meters[0].unit_id", "not True"),
        ("  address: 0\n", "  address: '0'\n", f"{POINT}.register.address", "an integer"),
        (
            "  broadcast_every: 1d\n",
            "  broadcast_every: [1d]\n",
            "time_sync.broadcast_every",
            "dur",
        ),
        ("    tls:\n      ca_file: ca.pem\n", "    tls: [ca.pem]\n", "data_centres[0].tls", "map"),
        (
            "register:\n              function: holding\n              address: 0\n"
            "              type: float32\n",
            "register: [holding, 0, float32]\n",
            f"{POINT}.register",
            "must be a mapping",
        ),
    ],
)
def test_wrong_data_type_in_place_is_refused(old: str, new: str, path: str, words: str) -> None:
    text = edit(full(), old, new)
    message = refused(text)
    assert_names(message, line_of(text, new.splitlines()[0].strip()), path)
    assert words in message


def test_gateway_given_as_a_list_is_refused() -> None:
    text = "gateway: [gw-test-01]\n" + MINIMAL[MINIMAL.index("data_centres:") :]
    message = refused(text)
    assert_names(message, 1, "gateway")
    assert "must be a mapping" in message


def test_data_centres_given_as_a_mapping_is_refused() -> None:
    text = edit(MINIMAL, "  - name: dc1\n    host: 127.0.0.1\n    key:", "  name: dc1\n  key:")
    message = refused(text)
    assert_names(message, line_of(text, "data_centres:"), "data_centres")
    assert "must be a list" in message


def test_bus_given_as_a_string_is_refused() -> None:
    text = edit(MINIMAL, "buses:\n", "buses:\n  - yard-2\n")
    message = refused(text)
    assert_names(message, line_of(text, "- yard-2"), "buses[0]")
    assert "must be a mapping" in message


def test_meters_given_as_a_string_is_refused() -> None:
    text = MINIMAL[: MINIMAL.index("    meters:")] + "    meters: COAL\n"
    message = refused(text)
    assert_names(message, line_of(text, "meters: COAL"), "buses[0].meters")
    assert "must be a list" in message


# -- unknown keys and keys given twice -----------------------------------------------------


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_unknown_key_is_refused_at_every_level(level: str) -> None:
    text = full(**{level: "bogus_key: 1"})
    message = refused(text)
    path = LEVELS[level][1]
    assert_names(message, line_of(text, "bogus_key"), f"{path}.bogus_key" if path else "bogus_key")
    assert "unknown key" in message


def test_misspelt_key_is_refused() -> None:
    text = edit(MINIMAL, "interval: 8h", "intervall: 8h")
    message = refused(text)
    assert_names(message, line_of(text, "intervall"), f"{POINT}.intervall")


@pytest.mark.parametrize(
    ("level", "insert", "path"),
    [
        ("top", "buses: []", "buses"),
        ("gateway", "id: gw-test-02", "gateway.id"),
        ("time_sync", "broadcast_every: 2d", "time_sync.broadcast_every"),
        ("data_centre", "host: 127.0.0.2", "data_centres[0].host"),
        ("tls", "ca_file: other.pem", "data_centres[0].tls.ca_file"),
        ("bus", "kind: dlt645-tcp", "buses[0].kind"),
        ("meter", "unit_id: 2", "buses[0].meters[0].unit_id"),
        ("point", "unit: MWh", f"{POINT}.unit"),
        ("register", "address: 2", f"{POINT}.register.address"),
    ],
)
def test_key_given_twice_is_refused(level: str, insert: str, path: str) -> None:
    text = full(**{level: insert})
    message = refused(text)
    assert_names(message, line_of(text, insert), path)
    assert "given twice" in message


def test_key_given_twice_in_a_flow_mapping_is_refused() -> None:
    text = edit(full(), "    tls:\n      ca_file: ca.pem\n", "    tls: {ca_file: a, ca_file: b}\n")
    message = refused(text)
    assert_names(message, line_of(text, "tls: {"), "data_centres[0].tls.ca_file")
    assert "given twice" in message


# -- the file itself -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "bad_line"),
    [
        ("    host: 127.0.0.1\n", "    host: 127.0.0.1\n   port: 5\n", "   port: 5"),
        ("  id: gw-test-01\n", "  id: gw-test-01\n  - stray\n", "- stray"),
        (
            "            kind: cumulative\n",
            "            kind: cumulative\n          bad: 1\n",
            "bad: 1",
        ),
        ("            unit: t\n", "            unit: [t\n", "interval: 8h"),
        ("            unit: t\n", "            unit: t\n\t    tab: 1\n", "tab: 1"),
    ],
)
def test_invalid_yaml_names_its_line(old: str, new: str, bad_line: str) -> None:
    text = edit(MINIMAL, old, new)
    message = refused(text)
    assert_names(message, line_of(text, bad_line), "")
    assert "not valid YAML" in message


def test_control_character_names_its_line() -> None:
    text = edit(MINIMAL, "unit: t\n", "unit: t\x07\n")
    message = refused(text)
    assert_names(message, line_of(text, "unit: t"), "")


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ("unit: t\n", "unit: !metric t\n", f"{POINT}.unit"),
        ("unit: t\n", "unit: !!python/object/apply:os.getpid []\n", f"{POINT}.unit"),
        ("  signing_key:", "  status_port: !!int eighty\n  signing_key:", "gateway.status_port"),
    ],
)
def test_yaml_tags_are_refused_as_config_errors(old: str, new: str, path: str) -> None:
    text = edit(MINIMAL, old, new)
    message = refused(text)
    assert_names(message, line_of(text, "!"), path)


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"agent\.yaml: the file is empty"):
        load_config(path)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "---\n"])
def test_top_level_that_is_not_a_mapping_is_refused(text: str) -> None:
    assert_names(refused(text), 1, "")


def test_non_utf8_file_is_refused_naming_the_byte(tmp_path: Path) -> None:
    data = MINIMAL.encode().replace(b"unit: t", b"unit: \xb6\xd6")
    path = tmp_path / "agent.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    position = data.index(b"\xb6")
    assert str(caught.value) == f"{path}: not UTF-8 text (byte {position})"


def test_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == f"{path}: no such file"


# -- the gateway: id, keys, buffer ---------------------------------------------------------


@pytest.mark.parametrize(
    "gateway_id", ["GW-01", "gw", "gw_01", "-gw01", "gw 01", "g" * 65, "网关01"]
)
def test_bad_gateway_id_is_refused(gateway_id: str) -> None:
    text = edit(MINIMAL, "id: gw-test-01", f"id: '{gateway_id}'")
    message = refused(text)
    assert_names(message, 2, "gateway.id")
    assert "does not match" in message


@pytest.mark.parametrize("gateway_id", ["gw1", "0-plant-7", "g" * 64])
def test_good_gateway_id_is_accepted(gateway_id: str) -> None:
    text = edit(MINIMAL, "id: gw-test-01", f"id: {gateway_id}")
    assert parse_config(text, SOURCE).gateway.id == gateway_id


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


BAD_KEYS = ["not base64!", "AAAA", _b64(b"\x01" * 31), _b64(b"\x01" * 33), _b64(b"\x01" * 64)]


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_signing_key_is_refused(key: str) -> None:
    text = edit(MINIMAL, SIGNING_KEY, f"'{key}'")
    message = refused(text)
    assert_names(message, 3, "gateway.signing_key")
    assert "32-byte Ed25519 private key" in message


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_data_centre_key_is_refused(key: str) -> None:
    text = edit(MINIMAL, ANY_DC_KEY, f"'{key}'")
    message = refused(text)
    assert_names(message, line_of(text, "key: '"), "data_centres[0].key")
    assert "32-byte Ed25519 public key" in message


def test_signing_key_is_the_configured_one() -> None:
    key = parse_config(MINIMAL, SOURCE).gateway.signing_key
    assert key.private_bytes_raw() == GATEWAY_KEY.private_bytes_raw()


def test_signing_key_and_signing_key_file_together_are_refused() -> None:
    text = edit(MINIMAL, "  signing_key:", "  signing_key_file: gateway.pem\n  signing_key:")
    message = refused(text)
    assert_names(message, line_of(text, "signing_key_file"), "gateway.signing_key_file")
    assert "not both" in message


def test_missing_signing_key_names_both_ways_to_give_it() -> None:
    text = edit(MINIMAL, f"  signing_key: {SIGNING_KEY}\n", "")
    message = refused(text)
    assert_names(message, 1, "gateway")
    assert "'signing_key'" in message or "signing_key or signing_key_file" in message


def _pem(key: object, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    if password is not None:
        encryption = serialization.BestAvailableEncryption(password)
    assert isinstance(key, Ed25519PrivateKey | rsa.RSAPrivateKey)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    """An RSA private key in PEM: a valid key, but not the kind a gateway signs with."""
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def _with_key_file(name: str) -> str:
    return edit(MINIMAL, f"  signing_key: {SIGNING_KEY}", f"  signing_key_file: {name}")


def test_signing_key_file_relative_to_the_config_is_read(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    (tmp_path / "gateway.pem").write_bytes(_pem(key))
    config = parse_config(_with_key_file("gateway.pem"), SOURCE, tmp_path)
    assert config.gateway.signing_key.private_bytes_raw() == key.private_bytes_raw()


def test_signing_key_file_holding_an_rsa_key_is_refused(tmp_path: Path, rsa_pem: bytes) -> None:
    (tmp_path / "gateway.pem").write_bytes(rsa_pem)
    message = refused(_with_key_file("gateway.pem"), tmp_path)
    assert_names(message, 3, "gateway.signing_key_file")
    assert "RSAPrivateKey, not an Ed25519 key" in message


def test_missing_signing_key_file_is_refused(tmp_path: Path) -> None:
    message = refused(_with_key_file("gateway.pem"), tmp_path)
    assert_names(message, 3, "gateway.signing_key_file")
    assert f"cannot read {tmp_path / 'gateway.pem'}" in message


def test_signing_key_file_that_is_not_pem_is_refused(tmp_path: Path) -> None:
    (tmp_path / "gateway.pem").write_text(SIGNING_KEY, encoding="utf-8")
    message = refused(_with_key_file("gateway.pem"), tmp_path)
    assert_names(message, 3, "gateway.signing_key_file")
    assert "is not a PEM private key" in message


def test_encrypted_signing_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "gateway.pem").write_bytes(_pem(Ed25519PrivateKey.generate(), b"secret"))
    message = refused(_with_key_file("gateway.pem"), tmp_path)
    assert_names(message, 3, "gateway.signing_key_file")


@pytest.mark.parametrize("days", ["14", "14.99", "0", "-15", "366"])
def test_buffer_days_outside_15_to_365_are_refused(days: str) -> None:
    text = edit(MINIMAL, "gateway:\n", f"gateway:\n  buffer_days: {days}\n")
    message = refused(text)
    assert_names(message, 2, "gateway.buffer_days")
    assert "minimum 15" in message or "maximum 365" in message


@pytest.mark.parametrize("days", ["15", "15.5", "365"])
def test_buffer_days_from_15_are_accepted(days: str) -> None:
    text = edit(MINIMAL, "gateway:\n", f"gateway:\n  buffer_days: {days}\n")
    assert parse_config(text, SOURCE).gateway.buffer_days == float(days)


@pytest.mark.parametrize(
    ("level", "insert", "path"),
    [
        ("gateway", "buffer_days: .nan", "gateway.buffer_days"),
        ("gateway", "buffer_days: .NaN", "gateway.buffer_days"),
        ("register", "scale: .nan", f"{POINT}.register.scale"),
        ("register", "scale: .inf", f"{POINT}.register.scale"),
        ("register", "offset: -.inf", f"{POINT}.register.offset"),
    ],
)
def test_numbers_that_are_not_finite_are_refused(level: str, insert: str, path: str) -> None:
    text = full(**{level: insert})
    message = refused(text)
    assert_names(message, line_of(text, insert), path)


@pytest.mark.parametrize(
    "code", ["530102000001000", "53010200000100011", "530102000001000A", "5301-02000001000", " "]
)
def test_bad_data_code_is_refused(code: str) -> None:
    text = edit(MINIMAL, "unit: t\n", f"unit: t\n            data_code: '{code}'\n")
    message = refused(text)
    assert_names(message, line_of(text, "data_code"), f"{POINT}.data_code")


def test_good_data_code_is_accepted() -> None:
    text = edit(MINIMAL, "unit: t\n", "unit: t\n            data_code: '5301020000010001'\n")
    assert parse_config(text, SOURCE).points()[0].data_code == "5301020000010001"


def test_polling_faster_than_one_second_is_refused() -> None:
    text = edit(full(), "interval: 15min", "interval: 500ms")
    message = refused(text)
    assert_names(message, line_of(text, "interval:"), f"{POINT}.interval")
    assert "below the minimum 1 s" in message


# -- ems-edge check-config -----------------------------------------------------------------


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """``main`` installs a log handler on the captured stderr; put the old ones back after."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("restore_logging")
def test_check_config_prints_validity_and_capacity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    config: AgentConfig = parse_config(MINIMAL, SOURCE)
    # one manual point every 8 h, kept 15 days: 3 a day x 15
    capacity = math.ceil(86400 / (8 * 3600) * 15)
    assert capacity == buffer_capacity(config) == 45
    assert f"{path}: valid (version {config.version})" in out
    assert f"buffer capacity {capacity} readings (15 days)" in out
    assert "1 buses, 1 meters, 1 points" in out


@pytest.mark.usefixtures("restore_logging")
def test_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(EDGE_AGENT / "examples" / "agent.yaml")]) == 0
    assert "valid (version" in capsys.readouterr().out


@pytest.mark.usefixtures("restore_logging")
def test_check_config_refuses_a_bad_file_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.yaml"
    text = edit(MINIMAL, "energy_type: coal", "energy_type: coke")
    path.write_text(text, encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    line = line_of(text, "coke")
    assert f"ems-edge: {path} line {line}: {POINT}.energy_type: 'coke' is not one of" in (
        captured.err
    )


@pytest.mark.usefixtures("restore_logging")
def test_check_config_refuses_nan_buffer_days_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(edit(MINIMAL, "gateway:\n", "gateway:\n  buffer_days: .nan\n"), "utf-8")
    assert main(["check-config", str(path)]) == 2
    assert "gateway.buffer_days" in capsys.readouterr().err
