"""Ledger files: the standard's tables (DB53/T 1026 annex A) read from and written to XLSX and CSV.

Enterprises keep their ledgers in spreadsheets and the provincial platforms'
templates use the standard's Chinese headings, so a ledger file is a sheet whose
first row holds one heading per column and each further row one record. A
:class:`Column` says how one heading maps to a field: its Chinese heading (what
is exported), the English heading and the field name (also accepted on import),
and how a cell is parsed and written back.

Import is all or nothing. :func:`read_table` parses *every* row and collects
every bad cell before it answers, so that a user fixes a file in one go; a bad
file raises :class:`~ems.errors.InvalidInput` whose ``fields`` keys are
``rows[N].field`` with N the row number as the spreadsheet shows it (the heading
is row 1), and the message names the first one with its heading. The caller
writes the parsed records in one transaction, so nothing of a refused file is
written.

Round trip: :func:`write_xlsx` / :func:`write_csv` write what :func:`read_table`
read, cell for cell: text stays text, dates are date cells (ISO text in CSV),
numbers keep their decimal digits (they are :class:`~decimal.Decimal`, never
float, so ``1.50`` in a CSV stays ``1.50``), and an enumeration is written back
as the standard's own word.

CSV: written as UTF-8 with a byte-order mark, which is what makes Excel on a
Chinese Windows open it correctly; read as UTF-8 (with or without the mark) or,
failing that, GB 18030, which is what Excel saves "CSV" as on such a machine.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ems.errors import InvalidInput

# A ledger of a large plant runs to a few thousand meters; a sheet far beyond
# that is a mistake (or a decompression bomb), refused before it is parsed.
MAX_ROWS = 20_000
MAX_BYTES = 10 * 1024 * 1024
# Enough errors to fix a file in one pass, few enough to read.
MAX_ERRORS = 200

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_TYPE = "text/csv; charset=utf-8"


class CellError(ValueError):
    """A cell's value is not acceptable; the message says what is expected."""


Parser = Callable[[Any], Any]
Formatter = Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    """One column of a ledger: ``key`` is the record's field, ``heading`` the standard's."""

    key: str
    heading: str
    heading_en: str
    parse: Parser
    format: Formatter = field(default=lambda value: value)
    required: bool = False
    # Other headings accepted on import, such as the standard's table heading with
    # its enumeration in brackets (目前状态(正常/故障/停用)).
    aliases: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return (self.heading, self.heading_en, self.key, *self.aliases)


# ---------------------------------------------------------------------------
# Cell parsers. Each takes what openpyxl or csv gave (str, int, float, datetime,
# date or None) and returns the field's value or raises CellError. An empty cell
# is None before any parser sees it.


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        # A management number typed as 1001 is stored by Excel as the number 1001.0.
        return str(int(value))
    if isinstance(value, datetime | date):
        raise CellError("expected text, got a date")
    text = str(value).strip()
    if text.startswith("'") and text[1:].startswith(FORMULA_START):
        return text[1:]  # written so by write_csv: the apostrophe only kept it text
    return text


def text(max_length: int) -> Parser:
    def parse(value: Any) -> str:
        out = _text(value)
        if len(out) > max_length:
            raise CellError(f"at most {max_length} characters")
        # PostgreSQL refuses NUL in text; a line break typed in a cell (Alt+Enter) is kept.
        if any(ord(c) < 32 and c not in "\t\n\r" for c in out) or "\x7f" in out:
            raise CellError("control characters are not allowed")
        return out

    return parse


def number(*, minimum: Decimal | None = None, positive: bool = False) -> Parser:
    def parse(value: Any) -> Decimal:
        if isinstance(value, bool | datetime | date):
            raise CellError("expected a number")
        try:
            out = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value).strip())
        except InvalidOperation:
            raise CellError(f"expected a number, got {value!r}") from None
        if not out.is_finite():
            raise CellError("expected a finite number")
        if positive and out <= 0:
            raise CellError("must be greater than 0")
        if minimum is not None and out < minimum:
            raise CellError(f"must be at least {minimum}")
        return out

    return parse


def integer(*, minimum: int | None = None, maximum: int | None = None) -> Parser:
    def parse(value: Any) -> int:
        amount = number()(value)
        if amount != amount.to_integral_value():
            raise CellError("expected a whole number")
        out = int(amount)
        if minimum is not None and out < minimum:
            raise CellError(f"must be at least {minimum}")
        if maximum is not None and out > maximum:
            raise CellError(f"must be at most {maximum}")
        return out

    return parse


def day(value: Any) -> date:
    """A date cell, or text ``YYYY-MM-DD`` (also ``YYYY/MM/DD`` and ``YYYY.MM.DD``)."""
    if isinstance(value, datetime):
        if value.time() != datetime.min.time():
            raise CellError("expected a date without a time of day")
        return value.date()
    if isinstance(value, date):
        return value
    raw = str(value).strip()
    for separator in ("-", "/", "."):
        parts = raw.split(separator)
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            try:
                return date(int(parts[0]), int(parts[1]), int(parts[2]))
            except ValueError:
                break
    raise CellError(f"expected a date YYYY-MM-DD, got {raw!r}")


def choice(words: Mapping[str, str]) -> tuple[Parser, Formatter]:
    """An enumeration: ``words`` maps the stored value to the standard's word.

    Accepted on import: the standard's word, the stored value (the English code)
    or, for numbered enumerations such as 器具等级, the number. Written back as the
    standard's word.
    """
    accepted: dict[str, str] = {}
    for stored, word in words.items():
        accepted[word] = stored
        accepted[stored.lower()] = stored

    def parse(value: Any) -> str:
        raw = _text(value)
        found = accepted.get(raw) or accepted.get(raw.lower())
        if found is None:
            raise CellError(f"one of {', '.join(words.values())}; got {raw!r}")
        return found

    def write(value: Any) -> Any:
        return words.get(value, value)

    return parse, write


def yes_no(value: Any) -> bool:
    raw = _text(value).lower()
    if raw in {"是", "yes", "y", "true", "1"}:
        return True
    if raw in {"否", "no", "n", "false", "0"}:
        return False
    raise CellError(f"是 or 否 (yes or no); got {raw!r}")


def write_yes_no(value: Any) -> Any:
    return None if value is None else ("是" if value else "否")


# ---------------------------------------------------------------------------


@dataclass
class Problems:
    """Bad cells collected over a whole file, keyed ``rows[N].field``."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    first: str | None = None

    def add(self, row: int | None, key: str, message: str, heading: str = "") -> None:
        if len(self.fields) >= MAX_ERRORS:
            return
        name = key if row is None else f"rows[{row}].{key}"
        self.fields.setdefault(name, []).append(message)
        if self.first is None:
            where = "the heading row" if row is None else f"row {row}"
            self.first = f"{where}, {heading or key}: {message}"

    def raise_if_any(self, what: str) -> None:
        if self.fields:
            count = len(self.fields)
            raise InvalidInput(
                f"{what} refused, nothing was written: {self.first}"
                + (f" (and {count - 1} more)" if count > 1 else ""),
                fields=self.fields,
            )


def _sheet_rows(data: bytes, filename: str) -> Iterator[list[Any]]:
    name = filename.lower()
    if name.endswith(".xlsx"):
        yield from _xlsx_rows(data)
    elif name.endswith(".csv") or name.endswith(".txt"):
        yield from _csv_rows(data)
    else:
        raise InvalidInput(
            f"{filename!r} is neither .xlsx nor .csv",
            fields={"file": ["a .xlsx or .csv file"]},
        )


def _xlsx_rows(data: bytes) -> Iterator[list[Any]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InvalidInput(
            "the file is not a readable XLSX workbook", fields={"file": [str(exc)[:200]]}
        ) from None
    try:
        sheet = workbook.worksheets[0]
        # Read-only mode trusts the sheet's recorded dimensions, which some
        # writers get wrong (rows past them would be silently left out).
        sheet.reset_dimensions()
        for row in sheet.iter_rows(values_only=True):
            yield list(row)
    except (KeyError, ValueError, TypeError, SyntaxError) as exc:
        # The sheet's XML is parsed lazily, row by row: a damaged part shows up
        # here (xml ParseError is a SyntaxError), not in load_workbook.
        raise InvalidInput(
            "the file is not a readable XLSX workbook", fields={"file": [str(exc)[:200]]}
        ) from None
    finally:
        workbook.close()


def _csv_rows(data: bytes) -> Iterator[list[Any]]:
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            content = data.decode("gb18030")
        except UnicodeDecodeError:
            raise InvalidInput(
                "the CSV file is neither UTF-8 nor GB 18030 text",
                fields={"file": ["save it as CSV UTF-8"]},
            ) from None
    try:
        yield from csv.reader(io.StringIO(content, newline=""))
    except csv.Error as exc:  # e.g. a field beyond csv.field_size_limit()
        raise InvalidInput(
            "the CSV file cannot be read", fields={"file": [str(exc)[:200]]}
        ) from None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def read_table(
    data: bytes,
    filename: str,
    columns: Sequence[Column],
    *,
    what: str = "the file",
    problems: Problems | None = None,
) -> list[tuple[int, dict[str, Any]]]:
    """Every record of the file as ``(row number, {key: value})``; all or nothing.

    Headings may come in any order and may be the Chinese heading, the English one
    or the field name; an unknown heading, a repeated one or a missing required
    one refuses the file. Empty rows are skipped. A column absent from the file
    is absent from the records (so an update can tell "not given" from "empty").

    With ``problems`` given, bad cells are collected there instead of raised and
    every row is returned (a bad cell's key left out), so that the caller can add
    the row errors only it can find (duplicates, references) and refuse the file
    once with all of them; bad headings still raise at once.
    """
    if len(data) > MAX_BYTES:
        raise InvalidInput(
            f"{what} is larger than {MAX_BYTES // (1024 * 1024)} MiB",
            fields={"file": ["too large"]},
        )
    lookup = {name.strip().lower(): column for column in columns for name in column.names()}
    collect = problems is not None
    problems = problems if problems is not None else Problems()
    rows = _sheet_rows(data, filename)
    header = next(rows, None)
    if header is None or all(_blank(cell) for cell in header):
        raise InvalidInput(f"{what} is empty", fields={"file": ["no heading row"]})
    positions: list[Column | None] = []
    seen: set[str] = set()
    for cell in header:
        if _blank(cell):
            positions.append(None)
            continue
        heading = str(cell).strip()
        column = lookup.get(heading.lower())
        if column is None:
            problems.add(None, "headings", f"unknown column {heading!r}")
        elif column.key in seen:
            problems.add(None, "headings", f"column {heading!r} appears twice")
        else:
            seen.add(column.key)
        positions.append(column)
    for column in columns:
        if column.required and column.key not in seen:
            problems.add(None, "headings", f"required column {column.heading!r} is missing")
    problems.raise_if_any(what)

    records: list[tuple[int, dict[str, Any]]] = []
    for number_, cells in enumerate(rows, start=2):
        if all(_blank(cell) for cell in cells):
            continue
        if len(records) >= MAX_ROWS:
            raise InvalidInput(
                f"{what} has more than {MAX_ROWS} rows", fields={"file": ["too many rows"]}
            )
        for extra in cells[len(positions) :]:
            if not _blank(extra):
                problems.add(number_, "headings", "a value stands in a column without a heading")
                break
        record: dict[str, Any] = {}
        bad: set[str] = set()
        for column, cell in zip(positions, cells, strict=False):
            if column is None:
                continue
            if _blank(cell):
                if column.required:
                    problems.add(number_, column.key, "is required", column.heading)
                record[column.key] = None
                continue
            try:
                record[column.key] = column.parse(cell)
            except CellError as exc:
                problems.add(number_, column.key, str(exc), column.heading)
                bad.add(column.key)
        for column in columns:
            # (A cell that failed to parse is reported once, not also as missing.)
            if column.key in seen and column.key not in record and column.key not in bad:
                # A short row (CSV) leaves its last cells out: they are empty.
                if column.required:
                    problems.add(number_, column.key, "is required", column.heading)
                record[column.key] = None
        records.append((number_, record))
    if not collect:
        problems.raise_if_any(what)
    return records


def _cells(records: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> Iterator[list[Any]]:
    for record in records:
        yield [
            None if record.get(column.key) is None else column.format(record[column.key])
            for column in columns
        ]


def write_xlsx(
    records: Iterable[Mapping[str, Any]], columns: Sequence[Column], *, title: str
) -> bytes:
    """A workbook with one sheet: the Chinese headings, then one row per record."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append([column.heading for column in columns])

    def as_text(value: Any) -> Any:
        # openpyxl stores a string beginning with "=" as a formula: a name such as
        # "=1#进线" would come back empty (never calculated) and could run in Excel.
        if isinstance(value, str) and value.startswith("="):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            return cell
        return value

    for cells in _cells(records, columns):
        sheet.append([as_text(value) for value in cells])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# A text cell starting with one of these is a formula to Excel and WPS (CSV injection):
# written with a leading apostrophe, which spreadsheets show as text and read_table drops.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_text(cell: Any) -> Any:
    if isinstance(cell, str) and cell.startswith(FORMULA_START):
        return "'" + cell
    return cell


def write_csv(records: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> bytes:
    """UTF-8 with a byte-order mark, Chinese headings, dates as ISO text, no formulas."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([column.heading for column in columns])
    for cells in _cells(records, columns):
        writer.writerow(
            [
                ""
                if cell is None
                else cell.isoformat()
                if isinstance(cell, date)
                else _csv_text(cell)
                for cell in cells
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def export(
    records: Iterable[Mapping[str, Any]], columns: Sequence[Column], *, fmt: str, title: str
) -> tuple[bytes, str]:
    """The file and its content type for ``fmt`` ``xlsx`` or ``csv``."""
    if fmt == "xlsx":
        return write_xlsx(records, columns, title=title), XLSX_TYPE
    if fmt == "csv":
        return write_csv(records, columns), CSV_TYPE
    raise InvalidInput(f"unknown format {fmt!r}", fields={"format": ["xlsx or csv"]})
