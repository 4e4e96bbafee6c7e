"""Metering personnel (table A.2): the ledger, its file, each person's documents."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from tests.conftest import assert_error

BASE = "/api/v1/tenants/alpha-works"
PDF = b"%PDF-1.7\n% a qualification certificate\n"
HEADINGS = [
    "序号",
    "姓名",
    "性别",
    "工作部门",
    "职位或岗位",
    "职称",
    "最高学历",
    "毕业院校",
    "计量专业取证",
    "证书编号",
    "专业培训",
    "培训机构",
    "联系电话",
    "邮箱",
    "备注",
]


def tag() -> str:
    return uuid.uuid4().hex[:6].upper()


def person_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": "张计量",
        "sex": "male",
        "department": "能源管理科",
        "position": "计量员",
        "professional_title": "工程师",
        "education": "大学本科",
        "school": "中国计量大学",
        "qualification": "二级注册计量师",
        "certificate_number": f"JL-{tag()}",
        "training": "JJF 1356 宣贯",
        "training_body": "云南省计量测试技术研究院",
        "phone": "0871-6512 3456",
        "email": "zhang@example.com",
        "remarks": "能源计量负责人",
        **fields,
    }


def create(client: Any, **fields: Any) -> dict[str, Any]:
    r = client.post(f"{BASE}/personnel", json=person_body(**fields))
    assert r.status_code == 201, r.get_json()
    made: dict[str, Any] = r.get_json()
    return made


def count_people(app: Any, world: Any) -> int:
    from sqlalchemy import func, select

    from ems.personnel.models import Person

    with app.extensions["ems"].db.session(world.tenants["alpha"].schema_name) as s:
        return int(s.scalar(select(func.count()).select_from(Person)) or 0)


def csv_file(rows: list[list[Any]]) -> bytes:
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def upload(client: Any, url: str, data: bytes, name: str) -> Any:
    return client.post(
        url, data={"file": (io.BytesIO(data), name)}, content_type="multipart/form-data"
    )


def test_crud_and_filters(client_for: Any) -> None:
    alice = client_for("alice")
    made = create(alice)
    assert {k: made[k] for k in person_body()} == {
        **person_body(),
        "certificate_number": made["certificate_number"],
    }
    other = create(alice, name="李无证", certificate_number=None, department="动力车间")
    got = alice.get(f"{BASE}/personnel/{made['id']}")
    assert got.status_code == 200 and got.headers["ETag"]
    listed = alice.get(f"{BASE}/personnel?q={made['certificate_number']}").get_json()
    assert [p["id"] for p in listed] == [made["id"]]
    unqualified = alice.get(f"{BASE}/personnel?qualified=false&page_size=100").get_json()
    assert other["id"] in {p["id"] for p in unqualified}
    assert made["id"] not in {p["id"] for p in unqualified}
    by_department = alice.get(f"{BASE}/personnel?department=动力车间&page_size=100").get_json()
    assert other["id"] in {p["id"] for p in by_department}

    body = person_body(name="张计量(改)", certificate_number=made["certificate_number"])
    url = f"{BASE}/personnel/{made['id']}"
    assert_error(alice.put(url, json=body), 428)
    r = alice.put(url, json=body, headers={"If-Match": got.headers["ETag"]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["name"] == "张计量(改)"
    etag = alice.get(url).headers["ETag"]
    assert alice.delete(url, headers={"If-Match": etag}).status_code == 204
    assert_error(alice.get(url), 404, "not_found")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "x" * 51),
        ("name", "bad\x00name"),
        ("sex", "unknown"),
        ("phone", "call me"),
        ("email", "not-an-address"),
        ("certificate_number", ""),
        ("remarks", "x" * 1001),
        ("department", 12),
    ],
)
def test_bad_input_names_the_field(client_for: Any, field: str, value: Any) -> None:
    r = client_for("alice").post(f"{BASE}/personnel", json=person_body(**{field: value}))
    assert field in assert_error(r, 422, "invalid_input")["fields"]


def test_name_is_required(client_for: Any) -> None:
    body = person_body()
    del body["name"]
    r = client_for("alice").post(f"{BASE}/personnel", json=body)
    assert "name" in assert_error(r, 422)["fields"]


def test_certificate_number_is_unique(client_for: Any) -> None:
    alice = client_for("alice")
    made = create(alice)
    r = alice.post(
        f"{BASE}/personnel", json=person_body(certificate_number=made["certificate_number"])
    )
    assert "certificate_number" in assert_error(r, 409, "conflict")["fields"]


def test_roles(client_for: Any) -> None:
    made = create(client_for("alice"))
    for name in ("vera", "oscar"):
        c = client_for(name)
        assert c.get(f"{BASE}/personnel/{made['id']}").status_code == 200
        assert_error(c.post(f"{BASE}/personnel", json=person_body()), 403, "forbidden")
        r = upload(c, f"{BASE}/personnel/import", csv_file([HEADINGS]), "a.csv")
        assert_error(r, 403, "forbidden")
    assert client_for("mona").post(f"{BASE}/personnel", json=person_body()).status_code == 201


def _rows(data: bytes, fmt: str) -> list[list[Any]]:
    if fmt == "csv":
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


def _mine(rows: list[list[Any]], t: str) -> list[list[Any]]:
    return [r for r in rows[1:] if r[9] and str(r[9]).startswith(f"T{t}")]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_file_round_trip(client_for: Any, fmt: str) -> None:
    """Every A.2 column: import, export, and the exported file imports to the same rows."""
    alice, t = client_for("alice"), tag()
    rows = [
        HEADINGS,
        ["1", "王一", "男", "能源科", "主管", "高级工程师", "硕士研究生", "天津大学",
         "一级注册计量师", f"T{t}-1", "JJF 1051", "省计量院", "13800001111",
         "wang@example.com", "负责计量"],
        ["2", "刘二", "女", "", "", "", "", "", "计量检定员", f"T{t}-2", "", "", "", "", ""],
    ]  # fmt: skip
    if fmt == "csv":
        data = csv_file(rows)
    else:
        book = Workbook()
        sheet = book.active
        assert sheet is not None
        for row in rows:
            sheet.append(row)
        buffer = io.BytesIO()
        book.save(buffer)
        data = buffer.getvalue()
    r = upload(alice, f"{BASE}/personnel/import", data, f"a2.{fmt}")
    assert r.status_code == 200, r.get_json()
    assert r.get_json() == {"created": 2, "updated": 0, "rows": 2}
    exported = alice.get(f"{BASE}/personnel/export?format={fmt}")
    assert exported.status_code == 200
    assert exported.headers["Content-Disposition"].startswith("attachment")
    out = _rows(exported.data, fmt)
    assert out[0] == HEADINGS
    mine = _mine(out, t)
    expected = [[None if c == "" else c for c in row[1:]] for row in rows[1:]]
    got = [[None if c in ("", None) else c for c in row[1:]] for row in mine]
    assert got == expected
    # The export imports again as updates of the same people, changing nothing.
    again = upload(alice, f"{BASE}/personnel/import", exported.data, f"again.{fmt}")
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["created"] == 0
    assert _rows(alice.get(f"{BASE}/personnel/export?format={fmt}").data, fmt) == out


def test_import_updates_by_certificate_then_by_name_and_phone(client_for: Any) -> None:
    alice, t = client_for("alice"), tag()
    holder = create(alice, certificate_number=f"U{t}", name="赵证书")
    plain = create(alice, certificate_number=None, name=f"钱{t}", phone="13900002222")
    rows = [
        ["姓名", "证书编号", "联系电话", "职称"],
        ["赵证书(改名)", f"U{t}", "", "高级工程师"],
        [f"钱{t}", f"N{t}", "13900002222", "技师"],  # has obtained a certificate since
        [f"孙{t}", "", "", ""],
    ]
    r = upload(alice, f"{BASE}/personnel/import", csv_file(rows), "a2.csv")
    assert r.get_json() == {"created": 1, "updated": 2, "rows": 3}, r.get_json()
    first = alice.get(f"{BASE}/personnel/{holder['id']}").get_json()
    assert first["name"] == "赵证书(改名)" and first["professional_title"] == "高级工程师"
    assert first["email"] == holder["email"]  # a column absent from the file is kept
    second = alice.get(f"{BASE}/personnel/{plain['id']}").get_json()
    assert second["certificate_number"] == f"N{t}" and second["professional_title"] == "技师"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (["赵", "M1", "x@example.com", "男"], None),
        (["", "M2", "x@example.com", "男"], "name"),
        (["赵", "M3", "not-an-email", "男"], "email"),
        (["赵", "M4", "x@example.com", "未知"], "sex"),
        (["赵", "M5", "x@example.com", "男\x00"], "sex"),
    ],
)
def test_a_bad_row_refuses_the_file(
    app: Any, world: Any, client_for: Any, row: list[str], field: str | None
) -> None:
    alice, t = client_for("alice"), tag()
    good = ["好人", f"G{t}", "g@example.com", "女"]
    numbered = [*row[:1], f"{row[1]}{t}", *row[2:]]
    rows = [["姓名", "证书编号", "邮箱", "性别"], good, [*good[:1], f"H{t}", *good[2:]], numbered]
    before = count_people(app, world)
    r = upload(alice, f"{BASE}/personnel/import", csv_file(rows), "a2.csv")
    if field is None:
        assert r.status_code == 200, r.get_json()
        return
    error = assert_error(r, 422, "invalid_input")
    assert list(error["fields"]) == [f"rows[4].{field}"], error
    assert "row 4" in error["message"] and "nothing was written" in error["message"]
    assert count_people(app, world) == before


def test_a_certificate_twice_in_a_file_is_refused(client_for: Any) -> None:
    t = tag()
    rows = [["姓名", "证书编号"], ["甲", f"D{t}"], ["乙", f"D{t}"]]
    r = upload(client_for("alice"), f"{BASE}/personnel/import", csv_file(rows), "a2.csv")
    error = assert_error(r, 422)
    assert error["fields"] == {"rows[3].certificate_number": ["repeats row 2"]}


def test_unknown_heading_and_wrong_file_type(client_for: Any) -> None:
    alice = client_for("alice")
    r = upload(alice, f"{BASE}/personnel/import", csv_file([["姓名", "鞋码"]]), "a2.csv")
    assert "headings" in assert_error(r, 422)["fields"]
    r = upload(alice, f"{BASE}/personnel/import", b"MZ\x90\x00", "a2.exe")
    assert "file" in assert_error(r, 422)["fields"]
    r = alice.post(f"{BASE}/personnel/import", data={}, content_type="multipart/form-data")
    assert "files.file" in assert_error(r, 422)["fields"]


# ---------------------------------------------------------------------------
# Documents (the one-machine default: a folder under EMS_DATA_DIR)


def doc_form(data: bytes = PDF, name: str = "证书.pdf", **fields: Any) -> dict[str, Any]:
    form = {"kind": "qualification", "title": "二级注册计量师证书", "expires": "2030-01-31"}
    form.update({k: v for k, v in fields.items() if v is not None})
    for key in [k for k, v in fields.items() if v is None]:
        form.pop(key, None)
    return {"file": (io.BytesIO(data), name), **form}


def post_document(client: Any, person_id: int, form: dict[str, Any]) -> Any:
    # Encoded here, in memory: the test client would spool a large body to a temporary
    # file it never closes (a ResourceWarning, an error under this suite's settings).
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    values = {
        k: FileStorage(v[0], filename=v[1]) if isinstance(v, tuple) else v for k, v in form.items()
    }
    boundary, body = encode_multipart(values)
    return client.post(
        f"{BASE}/personnel/{person_id}/documents",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def test_documents_upload_list_download_delete(client_for: Any, settings: Any) -> None:
    alice = client_for("alice")
    person = create(alice)
    form = doc_form(certificate_number="ZS-001", issued="2025-01-31")
    r = post_document(alice, person["id"], form)
    assert r.status_code == 201, r.get_json()
    doc = r.get_json()
    assert doc["filename"] == "证书.pdf" and doc["content_type"] == "application/pdf"
    assert doc["size"] == len(PDF) and doc["expires"] == "2030-01-31"
    import hashlib

    assert doc["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert doc["uploaded_by"] == "alice@example.com"
    stored = list((Path(settings.data_dir) / "documents").rglob("*"))
    files = [p for p in stored if p.is_file() and f"/personnel/{person['id']}/" in str(p)]
    assert len(files) == 1 and files[0].read_bytes() == PDF
    assert "t_alpha_works" in files[0].parts

    listed = client_for("vera").get(f"{BASE}/personnel/{person['id']}/documents").get_json()
    assert [d["id"] for d in listed] == [doc["id"]]
    content = client_for("vera").get(
        f"{BASE}/personnel/{person['id']}/documents/{doc['id']}/content"
    )
    assert content.status_code == 200 and content.data == PDF
    assert content.headers["Content-Type"] == "application/pdf"
    assert "filename*=UTF-8''%E8%AF%81%E4%B9%A6.pdf" in content.headers["Content-Disposition"]
    assert content.headers["X-Content-Type-Options"] == "nosniff"

    url = f"{BASE}/personnel/{person['id']}/documents/{doc['id']}"
    assert_error(client_for("vera").delete(url), 403)
    assert alice.delete(url).status_code == 204
    assert not files[0].exists()
    assert_error(alice.get(url), 404)


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (doc_form(kind="diploma"), "form.kind"),
        (doc_form(title=None), "form.title"),
        (doc_form(expires="31/01/2030"), "form.expires"),
        (doc_form(issued="2031-01-01"), "expires"),
        (doc_form(data=b"MZ\x90\x00", name="virus.exe"), "file"),
        (doc_form(data=b"<html>not a pdf</html>", name="fake.pdf"), "file"),
        (doc_form(data=b""), "file"),
        ({"kind": "archive", "title": "no file"}, "form.file"),
        ({"kind": "archive", "title": "a text, not a file", "file": "x"}, "file"),
    ],
)
def test_bad_documents_name_the_field(
    client_for: Any, settings: Any, form: dict[str, Any], field: str
) -> None:
    alice = client_for("alice")
    person = create(alice)
    error = assert_error(post_document(alice, person["id"], form), 422, "invalid_input")
    assert field in error["fields"], error
    folder = (
        Path(settings.data_dir) / "documents" / "t_alpha_works" / "personnel" / str(person["id"])
    )
    assert not folder.exists() or not any(folder.iterdir())


def test_document_size_limit(client_for: Any) -> None:
    from ems.documents.files import MAX_BYTES

    alice = client_for("alice")
    person = create(alice)
    big = b"%PDF-" + b"0" * (MAX_BYTES - 4)
    error = assert_error(post_document(alice, person["id"], doc_form(data=big)), 422)
    assert "file" in error["fields"]
    # Far beyond the limit the body itself is refused before it is read.
    huge = b"%PDF-" + b"0" * (MAX_BYTES + 2 * 1024 * 1024)
    assert_error(post_document(alice, person["id"], doc_form(data=huge)), 413)


def test_documents_need_config_write(client_for: Any) -> None:
    person = create(client_for("alice"))
    for name in ("vera", "oscar"):
        assert_error(post_document(client_for(name), person["id"], doc_form()), 403, "forbidden")


def test_deleting_a_person_removes_their_documents(client_for: Any, settings: Any) -> None:
    alice = client_for("alice")
    person = create(alice)
    for title in ("档案", "证书"):
        r = post_document(alice, person["id"], doc_form(kind="archive", title=title))
        assert r.status_code == 201, r.get_json()
    folder = (
        Path(settings.data_dir) / "documents" / "t_alpha_works" / "personnel" / str(person["id"])
    )
    assert len(list(folder.iterdir())) == 2
    url = f"{BASE}/personnel/{person['id']}"
    assert (
        alice.delete(url, headers={"If-Match": alice.get(url).headers["ETag"]}).status_code == 204
    )
    assert not any(folder.iterdir())


def test_a_document_of_another_person_is_not_found(client_for: Any) -> None:
    alice = client_for("alice")
    one, two = create(alice), create(alice)
    doc = post_document(alice, one["id"], doc_form()).get_json()
    url = f"{BASE}/personnel/{two['id']}/documents/{doc['id']}"
    assert_error(alice.get(url), 404)
    assert_error(alice.get(f"{url}/content"), 404)
    assert_error(alice.delete(url), 404)


# ---------------------------------------------------------------------------
# Certificate expiry reminders


def _reminders(session: Any, kind: str) -> list[Any]:
    from sqlalchemy import select

    from ems.reminders.models import Reminder

    return list(session.scalars(select(Reminder).where(Reminder.kind == kind)))


def test_certificates_expiring_within_the_lead_time_are_reminded_once(
    database: Any, world: Any, tmp_path: Path
) -> None:
    from ems.context import TenantRef, current_tenant
    from ems.documents.files import Upload
    from ems.documents.store import LocalStore
    from ems.personnel import services
    from ems.personnel.models import Person
    from ems.personnel.reminders import KIND
    from ems.reminders import run
    from ems.reminders.services import lead_days

    today = date(2031, 3, 1)
    tenant = world.tenants["alpha"]
    token = current_tenant.set(TenantRef(tenant.id, tenant.slug, tenant.schema_name))
    session = database.session(tenant.schema_name)
    try:
        store = LocalStore(tmp_path)
        person = Person(name="到期测试")
        session.add(person)
        session.flush()
        lead = lead_days(session, KIND)
        ids: list[int] = []

        def doc(kind: str, expires: date | None, number: str | None = None) -> int:
            upload = Upload("c.pdf", "application/pdf", 5, "0" * 64, b"%PDF-")
            form = {"kind": kind, "title": f"证书 {expires}", "certificate_number": number,
                    "issued": None, "expires": expires}  # fmt: skip
            ids.append(services.add_document(session, store, person, upload, form).id)
            return ids[-1]

        soon = doc("qualification", today + timedelta(days=10), "A")
        edge = doc("qualification", today + timedelta(days=lead), "B")
        beyond = doc("qualification", today + timedelta(days=lead + 1), "C")
        overdue = doc("training", today - timedelta(days=3), "D")
        doc("archive", None)  # a file without expiry
        # Renewed early: the old certificate E is superseded by a later one, no reminder.
        doc("qualification", today + timedelta(days=5), "E")
        doc("qualification", today + timedelta(days=5 + 3 * 365), "E")

        ours = set(ids)

        def reminded(created: list[Any]) -> list[int]:
            return sorted(r.subject_id for r in created if r.kind == KIND and r.subject_id in ours)

        assert reminded(run(session, today)) == sorted([soon, edge, overdue])
        assert reminded(run(session, today)) == []
        # A day later the next certificate enters the lead time; the others are not repeated.
        assert reminded(run(session, today + timedelta(days=1))) == [beyond]
        titles = {r.title for r in _reminders(session, KIND) if r.subject_id == soon}
        assert any("到期测试" in t for t in titles)
    finally:
        session.rollback()
        session.close()
        current_tenant.reset(token)
