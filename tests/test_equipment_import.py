"""The equipment ledger as a file (table A.3): every column round-trips through import and
export unchanged; a bad row refuses the whole file, naming the row and the field."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from tests.conftest import assert_error

BASE = "/api/v1/tenants/alpha-works"
HEADINGS = [
    "序号",
    "所属部门",
    "设备名称",
    "设备编号",
    "型号规格",
    "安装地点",
    "设备分类",
    "能源种类",
    "能源消耗量或功率",
    "是否特种设备",
    "配套机电设备型号",
    "配套机电设备功率",
    "备注",
]


def tag() -> str:
    return uuid.uuid4().hex[:6].upper()


def ledger_rows(t: str) -> list[list[Any]]:
    """Every A.3 column, every cell filled on the first row, the usual gaps on the others."""
    return [
        HEADINGS,
        [1, "动力车间", "1#燃煤锅炉", f"{t}-GL01", "SZL10-1.25-AII", "锅炉房", "锅炉",
         "原煤、电力", "10 t/h", "是", "Y280M-4", "90 kW", "2019年改造"],
        [2, "动力车间", "1#循环水泵", f"{t}-SB01", "IS150-125-315", "泵房", "水泵",
         "电力", "75 kW", "否", None, None, None],
        [3, "一车间", "空压机 A", f"{t}-KY01", "GA75", "空压站", "空气压缩机",
         "电力", 75, "否", None, None, "变频"],
        [4, None, "主变压器", f"{t}-BY01", "SCB13-2000/10", "配电室", "电力变压器",
         "电力", "2000 kVA", "否", None, None, None],
    ]  # fmt: skip


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list[Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([["" if c is None else c for c in row] for row in rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def read_back(data: bytes, fmt: str) -> list[list[Any]]:
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
        return [[None if c == "" else c for c in row] for row in rows]
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def upload(client: Any, data: bytes, name: str) -> Any:
    return client.post(
        f"{BASE}/equipment/import",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def count_equipment(app: Any, world: Any) -> int:
    from sqlalchemy import func, select

    from ems.equipment.models import Equipment

    with app.extensions["ems"].db.session(world.tenants["alpha"].schema_name) as s:
        return int(s.scalar(select(func.count()).select_from(Equipment)) or 0)


def mine(rows: list[list[Any]], t: str) -> list[list[Any]]:
    return [row for row in rows[1:] if str(row[3]).startswith(t)]


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_every_column_round_trips(client_for: Any, fmt: str) -> None:
    alice, t = client_for("alice"), tag()
    rows = ledger_rows(t)
    data = xlsx(rows) if fmt == "xlsx" else csv_bytes(rows)
    r = upload(alice, data, f"a3.{fmt}")
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"created": 4, "updated": 0, "rows": 4}

    exported = alice.get(f"{BASE}/equipment/export?format={fmt}")
    assert exported.status_code == 200
    out = read_back(exported.data, fmt)
    assert out[0] == HEADINGS
    expected = rows[1:] if fmt == "xlsx" else read_back(csv_bytes(rows), "csv")[1:]
    # 序号 is the row number of the whole export; every other cell is as imported.
    assert [row[1:] for row in mine(out, t)] == [row[1:] for row in expected]

    # What the API holds is typed: the class and energy types as codes, quantities split.
    listed = alice.get(f"{BASE}/equipment?q={t}-GL01").get_json()[0]
    assert listed["class_code"] == "boiler" and listed["energy_types"] == [
        "raw_coal",
        "electricity",
    ]
    assert (listed["rating_value"], listed["rating_unit"]) == ("10", "t/h")
    assert (listed["attached_power_value"], listed["attached_power_unit"]) == ("90", "kW")
    assert listed["special"] is True

    # Importing the export again updates the same rows and changes nothing.
    again = upload(alice, exported.data, f"again.{fmt}")
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["created"] == 0
    assert read_back(alice.get(f"{BASE}/equipment/export?format={fmt}").data, fmt) == out


def test_import_updates_by_number_and_keeps_absent_columns(client_for: Any) -> None:
    alice, t = client_for("alice"), tag()
    assert upload(alice, xlsx(ledger_rows(t)), "a3.xlsx").status_code == 200
    update = [["设备编号", "设备名称", "设备分类"], [f"{t}-SB01", "1#循环水泵(新)", "泵"]]
    r = upload(alice, xlsx(update), "update.xlsx")
    assert r.get_json() == {"created": 0, "updated": 1, "rows": 1}, r.get_json()
    pump = alice.get(f"{BASE}/equipment?q={t}-SB01").get_json()[0]
    assert pump["name"] == "1#循环水泵(新)" and pump["class_code"] == "pump"
    assert pump["rating_value"] == "75" and pump["location"] == "泵房"


def test_department_links_to_a_unit_of_that_name(client_for: Any, world: Any) -> None:
    alice, t = client_for("alice"), tag()
    body = {"site_id": world.sites["alpha"][0], "code": f"U{t}", "name": f"机修车间{t}",
            "kind": "workshop", "role": "auxiliary_production"}  # fmt: skip
    unit = alice.post(f"{BASE}/units", json=body).get_json()
    rows = [
        ["设备编号", "设备名称", "设备分类", "所属部门"],
        [f"{t}-1", "行车", "其他", f"机修车间{t}"],
        [f"{t}-2", "行车", "其他", f"U{t}"],
        [f"{t}-3", "行车", "其他", "没有这个部门"],
    ]
    assert upload(alice, xlsx(rows), "a3.xlsx").status_code == 200
    listed = {e["number"]: e for e in alice.get(f"{BASE}/equipment?q={t}-").get_json()}
    assert listed[f"{t}-1"]["unit_id"] == unit["id"]
    assert listed[f"{t}-2"]["unit_id"] == unit["id"]
    assert listed[f"{t}-3"]["unit_id"] is None
    assert listed[f"{t}-3"]["department"] == "没有这个部门"


@pytest.mark.parametrize(
    ("column", "value", "field"),
    [
        ("设备分类", "烤面包机", "class_code"),
        ("能源种类", "电力、月光", "energy_types"),
        ("能源种类", "电力,电力", "energy_types"),
        ("能源消耗量或功率", "kW 75", "rating"),
        ("能源消耗量或功率", "-5 kW", "rating"),
        ("是否特种设备", "也许", "special"),
        ("设备名称", None, "name"),
        ("设备名称", "x" * 101, "name"),
    ],
)
@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_a_bad_row_refuses_the_whole_file(
    app: Any, world: Any, client_for: Any, fmt: str, column: str, value: Any, field: str
) -> None:
    alice, t = client_for("alice"), tag()
    rows = ledger_rows(t)
    rows[3][HEADINGS.index(column)] = value  # the spreadsheet's row 4
    before = count_equipment(app, world)
    data = xlsx(rows) if fmt == "xlsx" else csv_bytes(rows)
    error = assert_error(upload(alice, data, f"a3.{fmt}"), 422, "invalid_input")
    assert list(error["fields"]) == [f"rows[4].{field}"], error
    assert "row 4" in error["message"] and "nothing was written" in error["message"]
    assert count_equipment(app, world) == before


def test_a_control_character_refuses_a_csv(app: Any, world: Any, client_for: Any) -> None:
    # Only CSV can carry one: XLSX (openpyxl, Excel) cannot hold control characters at all.
    rows = ledger_rows(tag())
    rows[3][HEADINGS.index("备注")] = "a\x00b"
    before = count_equipment(app, world)
    error = assert_error(upload(client_for("alice"), csv_bytes(rows), "a3.csv"), 422)
    assert list(error["fields"]) == ["rows[4].remarks"], error
    assert count_equipment(app, world) == before


def test_a_number_twice_in_a_file_is_refused(app: Any, world: Any, client_for: Any) -> None:
    rows = ledger_rows(tag())
    rows[4][3] = rows[1][3]
    before = count_equipment(app, world)
    error = assert_error(upload(client_for("alice"), xlsx(rows), "a3.xlsx"), 422)
    assert error["fields"] == {"rows[5].number": ["repeats row 2"]}
    assert count_equipment(app, world) == before


def test_a_missing_required_column_is_refused(client_for: Any) -> None:
    rows = [[h for h in HEADINGS if h != "设备编号"], ["1", "车间", "泵"]]
    error = assert_error(upload(client_for("alice"), xlsx(rows), "a3.xlsx"), 422)
    assert "headings" in error["fields"]


def test_import_needs_config_write(client_for: Any) -> None:
    for name in ("vera", "oscar"):
        assert_error(upload(client_for(name), xlsx(ledger_rows(tag())), "a3.xlsx"), 403)


def test_extended_export_adds_the_extra_columns(client_for: Any) -> None:
    alice, t = client_for("alice"), tag()
    rows = [
        ["设备编号", "设备名称", "设备分类", "生产厂家", "设计效率", "目标效率"],
        [f"{t}-X", "锅炉", "锅炉", "太原锅炉集团", "0.82", "0.78"],
    ]
    assert upload(alice, csv_bytes(rows), "a3.csv").status_code == 200
    standard = read_back(alice.get(f"{BASE}/equipment/export?format=csv").data, "csv")
    assert standard[0] == HEADINGS
    out = read_back(alice.get(f"{BASE}/equipment/export?format=csv&extended=true").data, "csv")
    assert out[0] == [*HEADINGS, "生产厂家", "设计效率", "目标效率"]
    row = next(r for r in out if r[3] == f"{t}-X")
    assert row[-3:] == ["太原锅炉集团", "0.82", "0.78"]


def test_bad_export_format(client_for: Any) -> None:
    r = client_for("alice").get(f"{BASE}/equipment/export?format=pdf")
    assert "query.format" in assert_error(r, 422)["fields"]
