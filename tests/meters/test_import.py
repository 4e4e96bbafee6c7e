"""Ledger files: a file with every table A.1 column round-trips through import and export
unchanged (XLSX, CSV, GB 18030 CSV); a bad file is refused with row number and field, and
nothing of it is written; rows update meters by their management number."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from tests.conftest import assert_error
from tests.meters.conftest import BASE, Fresh, make_meter, new_tenant, tag

# Table A.1 of DB53/T 1026-2021, in its order, then the platform's own columns.
A1 = [
    "序号",
    "计量器具名称",
    "计量器具类型",
    "器具等级",
    "计量相关参数",
    "型号规格",
    "准确度等级",
    "测量范围",
    "生产厂家",
    "管理编号",
    "安装使用地点",
    "安装方",
    "安装时间",
    "接入系统",
    "目前状态",
    "状态发生时间",
    "检定/校准状态",
    "检定/校准机构",
    "检定/校准周期",
    "最近一次检定/校准时间",
    "下一次检定/校准时间",
    "未检定/校准原因",
]
EXTRA = [
    "能源种类",
    "电流互感器变比",
    "电压互感器变比",
    "出厂编号",
    "所属厂区",
    "所属用能单元",
    "接入网关",
]


def day(year: int, month: int, day: int) -> datetime:
    """A date cell as openpyxl reads it back."""
    return datetime(year, month, day)  # noqa: DTZ001 - spreadsheet dates have no zone


def ledger_rows(gateway: str) -> list[list[Any]]:
    """Three meters: every cell filled, an override of the next due date, blanks."""
    return [
        A1 + EXTRA,
        [1, "皮带秤", "1206100", 1, "原煤 t", "ICS-ST", "0.5", "0-1500 t/h", "赛摩电气",
         "BS-001", "1#输煤皮带", 1, day(2019, 8, 1), 1, "正常", day(2019, 8, 1), "合格",
         "云南省计量测试技术研究院", 12, day(2025, 1, 31), day(2026, 1, 31), "无",
         "原煤", None, None, "SN-9001", "S1", "U1", gateway],
        [2, "电能表", None, 2, "有功电能 kWh", "DTSD341", "0.5S", "3×1.5(6) A", "威胜集团",
         "EM-002", "1#变压器低压侧", 2, day(2021, 3, 15), 2, "故障", day(2025, 2, 1), "不合格",
         "昆明市计量测试所", 24, day(2024, 6, 30), day(2025, 12, 31), "送检中",
         "电力", 40, 100, "SN-9002", "S1", None, None],
        [3, "水表", None, 3, None, None, None, None, None,
         "WM-003", None, None, None, None, "停用", None, None,
         None, None, None, None, None,
         None, None, 0.5, None, None, None, None],
    ]  # fmt: skip


def as_csv(rows: list[list[Any]]) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow(
            [
                ""
                if cell is None
                else cell.date().isoformat()
                if isinstance(cell, datetime)
                else cell
                for cell in row
            ]
        )
    return out.getvalue()


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_cells(data: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def csv_cells(data: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def upload(client: Any, base: str, data: bytes, name: str, query: str = "") -> Any:
    return client.post(
        f"{base}/meters/import{query}",
        data={"file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


@pytest.fixture
def places(fresh: Fresh) -> str:
    """The site S1, unit U1 and a gateway the file refers to; the gateway's id."""
    return make_places(fresh)


def make_places(fresh: Fresh) -> str:
    admin, base = fresh.client("tenant_admin"), fresh.base
    site = admin.post(f"{base}/sites", json={"code": "S1", "name": "一厂"}).get_json()
    unit = {"site_id": site["id"], "code": "U1", "name": "输煤车间"}
    r = admin.post(f"{base}/units", json={**unit, "kind": "workshop", "role": "main_production"})
    assert r.status_code == 201, r.get_json()
    r = admin.post(f"{base}/gateways", json={"name": "gw1"})
    assert r.status_code == 201, r.get_json()
    gateway_id: str = r.get_json()["id"]
    return gateway_id


def count(app: Any, schema: str, model: Any = None) -> int:
    from ems.meters.models import Meter

    with app.extensions["ems"].db.session(schema) as s:
        return int(s.scalar(select(func.count()).select_from(model or Meter)) or 0)


def test_xlsx_with_every_column_round_trips_unchanged(app: Any, fresh: Fresh, places: str) -> None:
    rows = ledger_rows(places)
    admin = fresh.client("tenant_admin")
    r = upload(admin, fresh.base, xlsx(rows), "台账.xlsx")
    assert r.status_code == 200, r.get_json()
    assert r.get_json() | {"linked_points": 0} == {
        "rows": 3,
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "linked_points": 0,
        "dry_run": False,
    }
    exported = fresh.client("viewer").get(f"{fresh.base}/meters/export?format=xlsx")
    assert exported.status_code == 200, exported.get_data(as_text=True)[:300]
    assert exported.mimetype.endswith("spreadsheetml.sheet")
    assert "attachment" in exported.headers["Content-Disposition"]
    assert xlsx_cells(exported.data) == rows
    # The stored values are typed, not text: the override and the derived date are told apart.
    meters = {m["management_number"]: m for m in admin.get(f"{fresh.base}/meters").get_json()}
    assert meters["BS-001"]["next_due_overridden"] is False
    assert meters["EM-002"]["next_due_on"] == "2025-12-31"
    assert meters["EM-002"]["next_due_overridden"] is True  # 2024-06-30 + 24 months differs
    assert (meters["EM-002"]["ct_ratio"], meters["EM-002"]["level"]) == ("40", 2)
    assert meters["BS-001"]["gateway_id"] == places and meters["BS-001"]["unit_id"] is not None
    assert meters["BS-001"]["energy_type"] == "raw_coal"
    # Importing the export again changes nothing.
    again = upload(admin, fresh.base, exported.data, "export.xlsx").get_json()
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_csv_round_trips_unchanged(fresh: Fresh, places: str, encoding: str) -> None:
    text = as_csv(ledger_rows(places))
    admin = fresh.client("tenant_admin")
    r = upload(admin, fresh.base, text.encode(encoding), "ledger.csv")
    assert r.status_code == 200, r.get_json()
    exported = admin.get(f"{fresh.base}/meters/export?format=csv")
    assert exported.status_code == 200
    assert exported.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert csv_cells(exported.data) == list(csv.reader(io.StringIO(text, newline="")))
    if encoding == "utf-8-sig":  # the platform's own form: byte for byte
        assert exported.data == text.encode("utf-8-sig")


def test_headings_in_english_field_names_and_the_standards_bracketed_form(
    fresh: Fresh,
) -> None:
    headings = ["Management number", "Instrument name", "level", "目前状态(正常/故障/停用)"]
    rows = [
        [*headings, "Interval (months)"],
        ["E-1", "燃气表", "二级", "故障", "1年"],
        ["E-2", "流量计", 3, "faulty", "6个月"],
    ]  # fmt: skip
    admin = fresh.client("tenant_admin")
    r = upload(admin, fresh.base, xlsx(rows), "english.xlsx")
    assert r.status_code == 200, r.get_json()
    meters = {m["management_number"]: m for m in admin.get(f"{fresh.base}/meters").get_json()}
    assert (meters["E-1"]["level"], meters["E-1"]["state"]) == (2, "faulty")
    assert (meters["E-1"]["interval_months"], meters["E-2"]["interval_months"]) == (12, 6)


BAD_CELLS = [
    (2, 3, "4", "level"),  # 器具等级
    (2, 2, "12061", "type_code"),
    (3, 2, "9999999", "type_code"),  # well-formed, not in the catalogue
    (2, 11, "甲方", "installed_by"),
    (3, 13, "第三方系统", "connected_system"),
    (2, 14, "损坏", "state"),
    (3, 16, "合格?", "verification_result"),
    (2, 18, "0", "interval_months"),
    (3, 19, "2024-02-30", "last_verified_on"),
    (2, 20, "2018-01-01", "next_due_on"),  # before the last verification
    (3, 22, "核能", "energy_type"),
    (2, 23, "-40", "ct_ratio"),
    (3, 26, "S9", "site_code"),
    (2, 27, "U9", "unit_code"),
    (3, 28, "alpha-works-gw1", "gateway_id"),  # another tenant's name space
    (2, 1, "", "name"),
    (3, 9, "", "management_number"),
]


@pytest.fixture(scope="module")
def refusing(app: Any, database: Any, settings: Any) -> tuple[Fresh, str]:
    """One tenant for the refused files (they write nothing): places and meter BS-001."""
    fresh = new_tenant(app, database, settings)
    gateway = make_places(fresh)
    make_meter(fresh.client(), fresh.base, management_number="BS-001", model="kept")
    return fresh, gateway


@pytest.mark.parametrize(("row", "column", "value", "field"), BAD_CELLS)
def test_a_bad_cell_refuses_the_file_naming_row_and_field(
    app: Any, refusing: tuple[Fresh, str], row: int, column: int, value: str, field: str
) -> None:
    from ems.meters.models import MeterStateChange

    fresh, gateway = refusing
    rows = ledger_rows(gateway)
    rows[row][column] = value
    admin = fresh.client("tenant_admin")
    before = (count(app, fresh.schema), count(app, fresh.schema, MeterStateChange))
    for name, data in (("bad.csv", as_csv(rows).encode()), ("bad.xlsx", xlsx(rows))):
        error = assert_error(upload(admin, fresh.base, data, name), 422, "invalid_input")
        key = f"rows[{row + 1}].{field}"  # the heading is spreadsheet row 1
        assert list(error["fields"]) == [key], error
        assert f"row {row + 1}" in error["message"] and "nothing was written" in error["message"]
    assert (count(app, fresh.schema), count(app, fresh.schema, MeterStateChange)) == before
    meters = admin.get(f"{fresh.base}/meters").get_json()
    assert [(m["management_number"], m["model"]) for m in meters] == [("BS-001", "kept")]


def test_control_characters_in_a_csv_cell_are_refused(refusing: tuple[Fresh, str]) -> None:
    fresh, gateway = refusing
    rows = ledger_rows(gateway)
    rows[2][5] = "DTSD\x00341"  # openpyxl cannot even write this into an XLSX
    data = as_csv(rows).encode()
    error = assert_error(upload(fresh.client(), fresh.base, data, "nul.csv"), 422)
    assert list(error["fields"]) == ["rows[3].model"]


def test_every_bad_row_is_reported_at_once(fresh: Fresh, places: str) -> None:
    rows = ledger_rows(places)
    rows[1][3], rows[3][9] = "九级", rows[2][9]  # a bad level; row 4 repeats row 3's number
    error = assert_error(upload(fresh.client(), fresh.base, xlsx(rows), "x.xlsx"), 422)
    assert error["fields"].keys() == {"rows[2].level", "rows[4].management_number"}
    assert error["fields"]["rows[4].management_number"] == ["repeats row 3"]


def test_rows_update_meters_by_management_number(app: Any, fresh: Fresh, places: str) -> None:
    admin = fresh.client("tenant_admin")
    assert upload(admin, fresh.base, xlsx(ledger_rows(places)), "a.xlsx").status_code == 200
    # A file of a few columns only: the others keep their values.
    rows = [
        ["管理编号", "计量器具名称", "目前状态", "状态发生时间", "型号规格"],
        ["BS-001", "皮带秤", "故障", day(2025, 6, 1), "ICS-ST"],
        ["EM-002", "电能表", "故障", day(2025, 2, 1), "DTSD341"],
    ]
    r = upload(admin, fresh.base, xlsx(rows), "b.xlsx")
    assert r.status_code == 200, r.get_json()
    result = r.get_json()
    assert (result["created"], result["updated"], result["unchanged"]) == (0, 1, 1)
    meters = {m["management_number"]: m for m in admin.get(f"{fresh.base}/meters").get_json()}
    belt = meters["BS-001"]
    assert (belt["state"], belt["state_since"]) == ("faulty", "2025-06-01")
    assert (belt["manufacturer"], belt["interval_months"]) == ("赛摩电气", 12)  # kept
    history = admin.get(f"{fresh.base}/meters/{belt['id']}/states").get_json()
    assert [(h["state"], h["reason"]) for h in history] == [
        ("faulty", "导入 imported"),
        ("normal", "导入 imported"),
    ]


def test_a_new_meter_needs_its_level(fresh: Fresh) -> None:
    rows = [["管理编号", "计量器具名称"], ["X-1", "电能表"]]
    error = assert_error(upload(fresh.client(), fresh.base, xlsx(rows), "x.xlsx"), 422)
    assert "rows[2].level" in error["fields"]


def test_dry_run_writes_nothing(app: Any, fresh: Fresh, places: str) -> None:
    admin = fresh.client("tenant_admin")
    r = upload(admin, fresh.base, xlsx(ledger_rows(places)), "a.xlsx", "?dry_run=true")
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["created"], r.get_json()["dry_run"]) == (3, True)
    assert count(app, fresh.schema) == 0


def test_unreadable_files_and_roles(fresh: Fresh) -> None:
    admin = fresh.client("tenant_admin")
    for data, name in ((b"PK\x03\x04junk", "x.xlsx"), (b"a,b", "x.pdf"), (b"", "x.csv")):
        assert "file" in assert_error(upload(admin, fresh.base, data, name), 422)["fields"]
    error = assert_error(admin.post(f"{fresh.base}/meters/import", data={}), 422)
    assert "file" in error["fields"] or "files.file" in error["fields"], error
    rows = xlsx([["管理编号", "计量器具名称", "器具等级"], ["X-1", "电能表", 1]])
    for role in ("operator", "viewer"):
        assert_error(upload(fresh.client(role), fresh.base, rows, "x.xlsx"), 403, "forbidden")
    assert_error(admin.get(f"{fresh.base}/meters/export?format=pdf"), 422)


def test_export_filters_and_numbers_rows_from_one(client_for: Any) -> None:
    alice = client_for("alice")
    number = f"EXP-{tag()}"
    make_meter(alice, management_number=number, level=3)
    r = alice.get(f"{BASE}/meters/export?format=csv&q={number}")
    assert r.status_code == 200
    cells = csv_cells(r.data)
    assert cells[0][:3] == ["序号", "计量器具名称", "计量器具类型"]
    assert [(row[0], row[9], row[3]) for row in cells[1:]] == [("1", number, "3")]
