"""Ledger files (ems.tabular): headings, cell parsing, all-or-nothing errors, round trips."""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from ems import tabular
from ems.errors import InvalidInput

LEVEL_PARSE, LEVEL_WRITE = tabular.choice({"1": "一级", "2": "二级", "3": "三级"})
COLUMNS = [
    tabular.Column("name", "计量器具名称", "Instrument name", tabular.text(50), required=True),
    tabular.Column("level", "器具等级", "Level", LEVEL_PARSE, LEVEL_WRITE),
    tabular.Column("ratio", "变比", "Ratio", tabular.number(positive=True)),
    tabular.Column("installed", "安装时间", "Installed", tabular.day),
    tabular.Column("interval", "检定周期", "Interval", tabular.integer(minimum=1, maximum=120)),
    tabular.Column("special", "是否特种设备", "Special", tabular.yes_no, tabular.write_yes_no),
]


def xlsx(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def sheet_values(data: bytes) -> list[list[object]]:
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    return [list(row) for row in sheet.iter_rows(values_only=True)]


HEADINGS = ["计量器具名称", "器具等级", "变比", "安装时间", "检定周期", "是否特种设备"]


def test_xlsx_round_trip_keeps_every_cell() -> None:
    rows: list[list[object]] = [
        HEADINGS,
        ["电能表 1#进线", "一级", 200, datetime(2024, 3, 1), 12, "否"],  # noqa: DTZ001 (Excel dates are naive)
        ["皮带秤", "三级", 0.5, datetime(2023, 12, 31), 6, "是"],  # noqa: DTZ001
    ]
    records = tabular.read_table(xlsx(rows), "ledger.xlsx", COLUMNS)
    assert [n for n, _ in records] == [2, 3]
    first = records[0][1]
    assert first == {
        "name": "电能表 1#进线",
        "level": "1",
        "ratio": Decimal(200),
        "installed": date(2024, 3, 1),
        "interval": 12,
        "special": False,
    }
    out = tabular.write_xlsx([r for _, r in records], COLUMNS, title="A.1")
    assert sheet_values(out) == rows


def test_csv_round_trip_is_byte_for_byte_and_reads_gb18030() -> None:
    text = (
        "计量器具名称,器具等级,变比,安装时间,检定周期,是否特种设备\r\n"
        "燃气表,二级,1.50,2025-01-31,24,否\r\n"
    )
    data = ("\ufeff" + text).encode("utf-8")
    records = tabular.read_table(data, "a.csv", COLUMNS)
    assert records[0][1]["ratio"] == Decimal("1.50")
    assert tabular.write_csv([r for _, r in records], COLUMNS) == data
    # Excel on a Chinese Windows saves CSV as GB 18030 without a mark.
    assert tabular.read_table(text.encode("gb18030"), "a.csv", COLUMNS) == records


def test_english_and_field_names_are_accepted_as_headings_in_any_order() -> None:
    data = "Level,name\r\n3,水表\r\n".encode()
    assert tabular.read_table(data, "x.csv", COLUMNS) == [(2, {"level": "3", "name": "水表"})]


def test_every_bad_cell_is_reported_with_its_row_and_field() -> None:
    rows: list[list[object]] = [
        HEADINGS,
        ["好的", "一级", 1, "2024-01-01", 12, "否"],
        ["", "四级", -1, "2024-13-01", 1.5, "也许"],
    ]
    with pytest.raises(InvalidInput) as caught:
        tabular.read_table(xlsx(rows), "bad.xlsx", COLUMNS, what="the meter ledger")
    fields = caught.value.fields
    assert set(fields) == {
        "rows[3].name",
        "rows[3].level",
        "rows[3].ratio",
        "rows[3].installed",
        "rows[3].interval",
        "rows[3].special",
    }
    assert caught.value.message.startswith("the meter ledger refused, nothing was written: row 3")
    assert "计量器具名称" in caught.value.message


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (["计量器具名称", "颜色"], "unknown column '颜色'"),
        (["计量器具名称", "name"], "appears twice"),
        (["器具等级"], "required column '计量器具名称' is missing"),
    ],
)
def test_bad_headings_refuse_the_file(header: list[str], problem: str) -> None:
    data = (",".join(header) + "\r\n").encode()
    with pytest.raises(InvalidInput) as caught:
        tabular.read_table(data, "h.csv", COLUMNS)
    assert any(problem in m for m in caught.value.fields["headings"])


@pytest.mark.parametrize(
    ("data", "name", "field"),
    [
        (b"", "empty.csv", "file"),
        (b"PK\x03\x04 not really a zip", "broken.xlsx", "file"),
        (b"name\r\nx\r\n", "ledger.pdf", "file"),
        ("计量器具名称\r\n".encode("utf-16"), "utf16.csv", "file"),
    ],
)
def test_unreadable_files_name_the_file_field(data: bytes, name: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        tabular.read_table(data, name, COLUMNS)
    assert field in caught.value.fields


def test_value_outside_any_heading_is_a_row_error() -> None:
    data = "计量器具名称\r\n水表,多余\r\n".encode()
    with pytest.raises(InvalidInput) as caught:
        tabular.read_table(data, "x.csv", COLUMNS)
    assert "rows[2].headings" in caught.value.fields


def test_blank_rows_are_skipped_and_short_rows_are_empty_cells() -> None:
    data = "计量器具名称,变比\r\n水表\r\n,\r\n电表,2\r\n".encode()
    records = tabular.read_table(data, "x.csv", COLUMNS)
    assert records == [(2, {"name": "水表", "ratio": None}), (4, {"name": "电表", "ratio": 2})]


def test_too_many_rows_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tabular, "MAX_ROWS", 2)
    data = "计量器具名称\r\na\r\nb\r\nc\r\n".encode()
    with pytest.raises(InvalidInput, match="more than 2 rows"):
        tabular.read_table(data, "x.csv", COLUMNS)


def test_export_refuses_an_unknown_format() -> None:
    with pytest.raises(InvalidInput) as caught:
        tabular.export([], COLUMNS, fmt="pdf", title="x")
    assert "format" in caught.value.fields


@pytest.mark.parametrize("name", ['=HYPERLINK("http://x.example","点我")', "+1", "-2", "@SUM(A1)"])
def test_csv_never_writes_a_formula_and_reads_its_own_text_back(name: str) -> None:
    # A spreadsheet would run a cell starting with = + - @ (CSV injection).
    record = {"name": name, "level": "1"}
    data = tabular.write_csv([record], COLUMNS)
    line = data.decode("utf-8-sig").splitlines()[1]
    assert line.lstrip('"').startswith("'"), line
    back = tabular.read_table(data, "a.csv", COLUMNS)
    assert back[0][1]["name"] == name
