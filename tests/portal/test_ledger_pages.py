"""The ledger pages (meters, personnel, key equipment): lists with search and filters, forms
validated by the API's own schemas and services, imports and exports as jobs, and what a
viewer may not do.

The database is shared by the whole run: rows get unique numbers, and the tests that
count a whole ledger (empty states, round trips) use a tenant of their own.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from tests.meters.conftest import Fresh, new_tenant
from tests.portal import job_helpers
from tests.portal.conftest import PageClient
from tests.portal.job_helpers import job_id_of, job_row, run_sent, tag
from tests.portal.job_helpers import upload_file as upload

sent = job_helpers.sent  # autouse: the jobs the pages start are recorded, not sent

SLUG = "alpha-works"
PAGES = f"/t/{SLUG}"


def meter_form(**changes: str) -> dict[str, str]:
    """A valid new-meter form."""
    return {"name": "电能表", "management_number": f"PG-{tag()}", "level": "2", **changes}


def field_error(text: str, name: str) -> str:
    found = re.search(rf'data-testid="error-{re.escape(name)}">([^<]*)<', text)
    assert found, f"no error shown next to {name}"
    return found.group(1)


@pytest.fixture(scope="module")
def own(app: Any, database: Any, settings: Any) -> Fresh:
    """A tenant of this module's own, for whole-ledger counts and round trips."""
    return new_tenant(app, database, settings)


def client_of(app: Any, email: str) -> PageClient:
    client = PageClient(app.test_client())
    assert client.login(email).status_code == 303
    return client


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# --- meters ---------------------------------------------------------------------------------


def test_meter_list_searches_filters_and_sums_up(pages_for: Any) -> None:
    t = tag()
    client = pages_for("mona")
    for number, level, state in ((f"{t}-A", "1", "normal"), (f"{t}-B", "3", "faulty")):
        form = meter_form(
            management_number=number, level=level, state=state, energy_type="electricity"
        )
        assert client.post(f"{PAGES}/meters/new", form, f"{PAGES}/meters/new").status_code == 303
    found = client.text(f"{PAGES}/meters?q={t}")
    assert f'data-number="{t}-A"' in found and f'data-number="{t}-B"' in found
    assert 'data-testid="meters-table"' in found and 'data-testid="meter-summary"' in found
    faulty = client.text(f"{PAGES}/meters?q={t.lower()}&state=faulty")
    assert f'data-number="{t}-B"' in faulty and f'data-number="{t}-A"' not in faulty
    level1 = client.text(f"{PAGES}/meters?q={t}&level=1&energy_type=electricity")
    assert f'data-number="{t}-A"' in level1 and f'data-number="{t}-B"' not in level1
    none = client.text(f"{PAGES}/meters?q={t}&state=out_of_service")
    assert "没有符合条件的计量器具" in none
    # The export keeps the filters.
    assert f'<input type="hidden" name="q" value="{t.lower()}">' in faulty
    bad = client.get(f"{PAGES}/meters?level=9")
    assert bad.status_code == 422 and 'data-testid="error-level"' in bad.get_data(as_text=True)


def test_meter_form_refuses_bad_fields_next_to_them_and_writes_nothing(
    pages_for: Any, database: Any, world: Any
) -> None:
    from ems.meters.models import Meter

    client = pages_for("alice")
    number = f"PG-{tag()}"
    schema_error = client.post(
        f"{PAGES}/meters/new",
        meter_form(management_number=number, level="7"),
        f"{PAGES}/meters/new",
    )
    assert schema_error.status_code == 422
    text = schema_error.get_data(as_text=True)
    assert field_error(text, "level") and f'value="{number}"' in text  # what was typed stays
    service_error = client.post(
        f"{PAGES}/meters/new",
        meter_form(management_number=number, energy_type="no-such-energy"),
        f"{PAGES}/meters/new",
    )
    assert service_error.status_code == 422
    # The service's message, in the page's language, naming the value typed.
    message = field_error(service_error.get_data(as_text=True), "energy_type")
    assert "不在能源品种目录中" in message and "no-such-energy" in message
    with database.session(world.tenants["alpha"].schema_name) as session:
        assert session.scalar(select(Meter).where(Meter.management_number == number)) is None


def test_meter_is_created_shown_and_edited(pages_for: Any) -> None:
    client = pages_for("mona")
    form = meter_form(interval_months="12", last_verified_on="2025-01-31", location="1#配电室")
    created = client.post(f"{PAGES}/meters/new", form, f"{PAGES}/meters/new")
    assert created.status_code == 303
    url = created.headers["Location"]
    shown = client.text(url)
    assert form["management_number"] in shown and "2026年1月31日" in shown  # next due derived
    assert 'data-testid="edit-meter"' in shown and 'data-testid="meter-states"' in shown
    edit = client.text(url + "/edit")
    assert 'value="1#配电室"' in edit
    version = re.search(r'name="version" value="([^"]+)"', edit)
    assert version
    changed = {**form, "location": "2#配电室", "version": version.group(1)}
    assert client.post(url + "/edit", changed, url + "/edit").status_code == 303
    assert "2#配电室" in client.text(url)
    stale = client.post(url + "/edit", {**changed, "location": "3#"}, url + "/edit")
    assert stale.status_code == 422 and "已被他人修改" in stale.get_data(as_text=True)
    taken = client.post(f"{PAGES}/meters/new", form, f"{PAGES}/meters/new")
    assert taken.status_code == 422
    assert field_error(taken.get_data(as_text=True), "management_number") == "已被使用 "


def test_another_tenants_meter_is_not_found(pages_for: Any) -> None:
    bob = pages_for("bob")
    number = f"BETA-{tag()}"
    made = bob.post(
        "/t/beta-works/meters/new", meter_form(management_number=number), "/t/beta-works/meters/new"
    )
    url = made.headers["Location"]
    meter_id = int(url.rsplit("/", 1)[1])
    alice = pages_for("alice")
    assert alice.get(url).status_code == 404
    assert alice.get(url + "/edit").status_code == 404
    mine = alice.get(f"{PAGES}/meters/{meter_id}")  # alpha's own meter of that id, or none
    assert mine.status_code in (200, 404) and number not in mine.get_data(as_text=True)


def test_form_without_csrf_is_refused(pages_for: Any) -> None:
    client = pages_for("alice")
    response = client.http.post(f"{PAGES}/meters/new", data=meter_form())
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("ledger", "new", "form"),
    [
        ("meters", "new-meter", {"name": "x", "management_number": "VIEW-1", "level": "1"}),
        ("personnel", "new-person", {"name": "x"}),
        ("equipment", "new-equipment", {"name": "x", "number": "VIEW-1", "class_code": "pump"}),
    ],
)
def test_a_viewer_sees_no_edit_buttons_and_posting_anyway_is_forbidden(
    pages_for: Any, sent: Any, ledger: str, new: str, form: dict[str, str]
) -> None:
    viewer = pages_for("vera")
    text = viewer.text(f"{PAGES}/{ledger}")
    assert f'data-testid="{new}"' not in text and f'data-testid="import-{ledger}"' not in text
    assert 'data-testid="export-submit"' in text  # exporting is reading
    assert viewer.get(f"{PAGES}/{ledger}/new").status_code == 403
    assert viewer.get(f"{PAGES}/{ledger}/import").status_code == 403
    assert viewer.post(f"{PAGES}/{ledger}/new", form, f"{PAGES}/{ledger}").status_code == 403
    refused = upload(viewer, f"{PAGES}/{ledger}/import", b"a,b\r\n", "x.csv")
    assert refused.status_code == 403 and sent == []
    writer = pages_for("mona").text(f"{PAGES}/{ledger}")
    assert f'data-testid="{new}"' in writer and f'data-testid="import-{ledger}"' in writer


def test_empty_ledgers_say_what_to_do(app: Any, own: Fresh) -> None:
    admin = client_of(app, own.users["tenant_admin"])
    viewer = client_of(app, own.users["viewer"])
    for ledger in ("meters", "personnel", "equipment"):
        text = admin.text(f"/t/{own.slug}/{ledger}")
        assert 'data-testid="empty"' in text and f"/t/{own.slug}/{ledger}/import" in text
        seen = viewer.text(f"/t/{own.slug}/{ledger}")
        assert 'data-testid="empty"' in seen and "能源管理员" in seen


def test_import_page_lists_the_standards_columns(pages_for: Any) -> None:
    text = pages_for("alice").text(f"{PAGES}/meters/import")
    for heading in ("管理编号", "计量器具名称", "器具等级", "下一次检定/校准时间"):
        assert f'<th scope="row">{heading}</th>' in text
    assert 'data-testid="import-file"' in text and 'data-testid="import-submit"' in text
    wrong = upload(pages_for("alice"), f"{PAGES}/meters/import", b"x", "ledger.pdf")
    assert wrong.status_code == 422 and "请选择 .xlsx 或 .csv 文件" in wrong.get_data(as_text=True)


# --- personnel ------------------------------------------------------------------------------


def test_personnel_list_form_and_search(pages_for: Any) -> None:
    t = tag()
    client = pages_for("mona")
    bad = client.post(
        f"{PAGES}/personnel/new",
        {"name": f"张三{t}", "phone": "not a phone"},
        f"{PAGES}/personnel/new",
    )
    assert bad.status_code == 422 and field_error(bad.get_data(as_text=True), "phone")
    assert 'data-testid="personnel-table"' not in client.text(f"{PAGES}/personnel?q={t}")
    form = {
        "name": f"张三{t}",
        "department": f"计量室{t}",
        "certificate_number": f"C-{t}",
        "sex": "male",
    }
    created = client.post(f"{PAGES}/personnel/new", form, f"{PAGES}/personnel/new")
    assert created.status_code == 303
    shown = client.text(created.headers["Location"])
    assert f"C-{t}" in shown and "男" in shown and 'data-testid="edit-person"' in shown
    found = client.text(f"{PAGES}/personnel?q=C-{t}&qualified=true&department=计量室{t}")
    assert f"张三{t}" in found
    assert f"张三{t}" not in client.text(f"{PAGES}/personnel?q=C-{t}&qualified=false")
    taken = client.post(
        f"{PAGES}/personnel/new", {**form, "name": "李四"}, f"{PAGES}/personnel/new"
    )
    assert taken.status_code == 422
    assert field_error(taken.get_data(as_text=True), "certificate_number") == "已被使用 "


def test_personnel_import_and_export_round_trip(
    app: Any, database: Any, sent: Any, own: Fresh
) -> None:
    admin = client_of(app, own.users["tenant_admin"])
    base = f"/t/{own.slug}/personnel"
    rows = [
        ["姓名", "性别", "工作部门", "证书编号", "联系电话"],
        ["王五", "男", "计量室", "P-1", "0871-1234567"],
    ]
    rows.append(["赵六", "女", "动力车间", None, "13800000000"])
    job_id = job_id_of(upload(admin, f"{base}/import", xlsx(rows), "people.xlsx"))
    run_sent(database, sent)
    assert job_row(database, own.schema, job_id).result == {"created": 2, "updated": 0, "rows": 2}
    bad = [rows[0], ["", "男", None, "P-2", None], ["钱七", "未知", None, None, None]]
    failed = job_id_of(upload(admin, f"{base}/import", xlsx(bad), "bad.xlsx"))
    run_sent(database, sent)
    job = job_row(database, own.schema, failed)
    assert job.status == "failed" and {"rows[2].name", "rows[3].sex"} <= set(job.result["errors"])
    assert '<th scope="row">性别</th>' in admin.text(f"/t/{own.slug}/jobs/{failed}")
    export = job_id_of(admin.post(f"{base}/export", {"format": "csv"}, base))
    run_sent(database, sent)
    data = admin.get(f"/t/{own.slug}/jobs/{export}/file").data
    assert data.decode("utf-8-sig").splitlines()[0].startswith("序号,姓名,性别")
    again = job_id_of(upload(admin, f"{base}/import", data, "again.csv"))
    run_sent(database, sent)
    assert job_row(database, own.schema, again).result == {"created": 0, "updated": 2, "rows": 2}


# --- key equipment --------------------------------------------------------------------------


def test_equipment_form_with_several_energy_types(pages_for: Any) -> None:
    t = tag()
    client = pages_for("mona")
    form: dict[str, Any] = {"name": "1#锅炉", "number": f"EQ-{t}", "class_code": "no-such-class"}
    bad = client.post(f"{PAGES}/equipment/new", form, f"{PAGES}/equipment/new")
    assert bad.status_code == 422 and field_error(bad.get_data(as_text=True), "class_code")
    form.update(
        class_code="boiler",
        energy_types=["raw_coal", "electricity"],
        rating_value="10",
        rating_unit="t/h",
    )
    token = client.token(f"{PAGES}/equipment/new")
    created = client.http.post(f"{PAGES}/equipment/new", data={**form, "csrf_token": token})
    assert created.status_code == 303, created.get_data(as_text=True)[:3000]
    shown = client.text(created.headers["Location"])
    assert "原煤、电力" in shown and "锅炉" in shown and "10 t/h" in shown
    edit = client.text(created.headers["Location"] + "/edit")
    assert re.search(r'value="raw_coal" checked', edit) and re.search(
        r'value="electricity" checked', edit
    )
    found = client.text(f"{PAGES}/equipment?q=EQ-{t}&class_code=boiler&energy_type=raw_coal")
    assert f'data-number="EQ-{t}"' in found
    assert f'data-number="EQ-{t}"' not in client.text(f"{PAGES}/equipment?q=EQ-{t}&class_code=pump")


def test_equipment_import_and_export_round_trip(
    app: Any, database: Any, sent: Any, own: Fresh
) -> None:
    admin = client_of(app, own.users["tenant_admin"])
    base = f"/t/{own.slug}/equipment"
    rows = [
        ["设备名称", "设备编号", "设备分类", "能源种类", "能源消耗量或功率", "是否特种设备"],
        ["1#循环水泵", "SB-01", "水泵", "电力", "75 kW", "否"],
        ["1#燃煤锅炉", "GL-01", "锅炉", "原煤、电力", "10 t/h", "是"],
    ]
    job_id = job_id_of(upload(admin, f"{base}/import", xlsx(rows), "eq.xlsx"))
    run_sent(database, sent)
    assert job_row(database, own.schema, job_id).result == {"created": 2, "updated": 0, "rows": 2}
    bad = [rows[0], ["风机", "FJ-01", "不存在的分类", "电力", None, None]]
    failed = job_id_of(upload(admin, f"{base}/import", xlsx(bad), "bad.xlsx"))
    run_sent(database, sent)
    assert "rows[2].class_code" in job_row(database, own.schema, failed).result["errors"]
    assert 'data-number="FJ-01"' not in admin.text(base)
    export = job_id_of(admin.post(f"{base}/export", {"format": "xlsx", "extended": "1"}, base))
    run_sent(database, sent)
    data = admin.get(f"/t/{own.slug}/jobs/{export}/file").data
    again = job_id_of(upload(admin, f"{base}/import", data, "again.xlsx"))
    run_sent(database, sent)
    assert job_row(database, own.schema, again).result == {"created": 0, "updated": 2, "rows": 2}
