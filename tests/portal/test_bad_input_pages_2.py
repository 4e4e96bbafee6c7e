"""Bad input to the ledger pages (forms, imports, exports, lists) and the analysis pages'
pickers (actuals, unit consumption, networks, provincial upload, gateways).

The same rule as ``test_bad_input_pages.py``: 422 with the message next to the field, in
Chinese by default, what was typed shown again, nothing written (the watched tables are
hashed before and after, and no job is started); 404 for what does not exist; never 500.
What these tests create in alpha-works is deleted when they end.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import delete, select
from werkzeug.datastructures import FileStorage

from ems.portal.listing import LEDGER_FILES
from ems.tabular import MAX_BYTES
from tests.conftest import World
from tests.portal import job_helpers
from tests.portal import test_bad_input_pages as first
from tests.portal.job_helpers import job_id_of, job_row, run_sent, tag
from tests.portal.test_bad_input_pages import CJK, Case, field_error, page_message, send

sent = job_helpers.sent  # autouse: the jobs the pages start are recorded, not sent
snapshot = first.snapshot  # the watched tables' hashes
unpropagated = first.unpropagated  # errors answered as in production

PAGES = "/t/alpha-works"
LONG = "需要翻译：the message is an English schema or service message"


@pytest.fixture(autouse=True)
def forget_jobs(database: Any, world: World) -> Iterator[None]:
    """The jobs a test starts in alpha are deleted when it ends."""
    from sqlalchemy import func

    from ems.jobs.models import Job

    schema = world.tenants["alpha"].schema_name
    with database.session(schema) as s:
        last = s.scalar(select(func.coalesce(func.max(Job.id), 0)))
    yield
    with database.transaction(schema) as s:
        s.execute(delete(Job).where(Job.id > last))


@pytest.fixture(scope="module")
def taken(app: Any, database: Any, world: World) -> Iterator[dict[str, Any]]:
    """A meter, a person and an equipment of alpha whose numbers the cases repeat."""
    from ems.equipment.models import Equipment
    from ems.meters.models import Meter
    from ems.personnel.models import Person
    from tests.portal.conftest import PageClient

    t = tag()
    made: dict[str, Any] = {
        "meter_no": f"BI-M-{t}",
        "person_no": f"BI-P-{t}",
        "equipment_no": f"BI-E-{t}",
    }
    client = PageClient(app.test_client())
    assert client.login(world.users["alice"]).status_code == 303
    for url, form in (
        ("meters/new", {"name": "电能表", "management_number": made["meter_no"], "level": "2"}),
        ("personnel/new", {"name": "李四", "certificate_number": made["person_no"]}),
        ("equipment/new", {"name": "锅炉", "number": made["equipment_no"], "class_code": "boiler"}),
    ):
        response = client.post(f"{PAGES}/{url}", form, f"{PAGES}/{url}")
        assert response.status_code == 303, response.get_data(as_text=True)[:1000]
        made[url.split("/")[0]] = int(response.headers["Location"].rsplit("/", 1)[1])
    yield made
    with database.transaction(world.tenants["alpha"].schema_name) as s:
        s.execute(delete(Meter).where(Meter.id == made["meters"]))  # its states cascade
        s.execute(delete(Person).where(Person.id == made["personnel"]))
        s.execute(delete(Equipment).where(Equipment.id == made["equipment"]))


def upload_file(client: Any, url: str, content: bytes, name: str) -> Any:
    """Post a file like a browser; the body is built in memory (the test client's own
    encoder spools a large body to a temporary file it never closes)."""
    from werkzeug.test import encode_multipart

    fields = {"file": FileStorage(io.BytesIO(content), name), "csrf_token": client.token(url)}
    boundary, body = encode_multipart(fields)
    kind = f"multipart/form-data; boundary={boundary}"
    return client.http.post(url, data=body, content_type=kind)


def meter(**changes: str) -> dict[str, str]:
    return {"name": "电能表", "management_number": f"BI-{tag()}", "level": "2", **changes}


def person(**changes: str) -> dict[str, str]:
    return {"name": "张三", **changes}


def equipment(**changes: str) -> dict[str, str]:
    return {"name": "锅炉", "number": f"BI-{tag()}", "class_code": "boiler", **changes}


M, P, E = f"{PAGES}/meters/new", f"{PAGES}/personnel/new", f"{PAGES}/equipment/new"


def on_meter(id: str, target: str, english: str = "", **changes: str) -> Case:
    form = meter(**changes)
    kept = {} if target == "management_number" else {"management_number": form["management_number"]}
    return Case(id, "alice", M, form, target, M, english, kept=kept)


def on_person(id: str, target: str, english: str = "", **changes: str) -> Case:
    return Case(id, "alice", P, person(**changes), target, P, english)


def on_equipment(id: str, target: str, english: str = "", **changes: str) -> Case:
    form = equipment(**changes)
    kept = {} if target == "number" else {"number": form["number"]}
    return Case(id, "alice", E, form, target, E, english, kept=kept)


CASES = [
    Case("meter-empty", "alice", M, {}, "name", M),
    on_meter("meter-name-long", "name", LONG, name="表" * 201),
    on_meter("meter-name-control", "name", name="电能\x07表"),
    on_meter("meter-type-5-digits", "type_code", type_code="12345"),
    on_meter("meter-type-unknown", "type_code", LONG, type_code="9999999"),
    on_meter("meter-level-9", "level", LONG, level="9"),
    on_meter("meter-level-word", "level", level="two"),
    on_meter("meter-date-impossible", "installed_on", installed_on="2026-02-30"),
    on_meter("meter-date-1800", "installed_on", LONG, installed_on="1800-01-01"),
    on_meter("meter-interval-0", "interval_months", LONG, interval_months="0"),
    on_meter("meter-ct-negative", "ct_ratio", LONG, ct_ratio="-40"),
    on_meter("meter-ct-nan", "ct_ratio", LONG, ct_ratio="NaN"),
    on_meter("meter-site-unknown", "site_id", site_id="2147483647"),
    on_meter("meter-unit-unknown", "unit_id", unit_id="2147483647"),
    on_meter("meter-gateway-unknown", "gateway_id", gateway_id="no-such-gateway"),
    on_meter("meter-energy-unknown", "energy_type", LONG, energy_type="unobtainium"),
    on_meter("meter-state-unknown", "state", LONG, state="broken"),
    on_meter("meter-result-unknown", "verification_result", LONG, verification_result="ok"),
    on_meter("meter-due", "next_due_on", last_verified_on="2026-01-01", next_due_on="2025-01-01"),
    on_meter("meter-reason-nul", "not_verified_reason", not_verified_reason="坏\x00了"),
    on_meter("meter-number-taken", "management_number", management_number="{meter_no}"),
    on_person("person-empty", "name", name=""),
    on_person("person-name-long", "name", LONG, name="名" * 51),
    on_person("person-name-nul", "name", name="张\x00"),
    on_person("person-sex", "sex", LONG, sex="other"),
    on_person("person-phone", "phone", phone="call me"),
    on_person("person-email", "email", email="nope"),
    on_person("person-remarks-long", "remarks", LONG, remarks="x" * 1001),
    on_person("person-certificate-taken", "certificate_number", certificate_number="{person_no}"),
    Case("equipment-empty", "alice", E, {}, "name", E),
    on_equipment("equipment-class", "class_code", class_code="spaceship"),
    on_equipment("equipment-rating-negative", "rating_value", LONG, rating_value="-1"),
    on_equipment("equipment-rating-word", "rating_value", rating_value="many"),
    on_equipment("equipment-unit-pattern", "rating_unit", LONG, rating_unit="1kW"),
    on_equipment("equipment-efficiency-0", "design_efficiency", LONG, design_efficiency="0"),
    on_equipment("equipment-efficiency-big", "target_efficiency", LONG, target_efficiency="101"),
    on_equipment("equipment-special", "special", special="maybe"),
    on_equipment("equipment-energy", "energy_types", energy_types="unobtainium"),
    on_equipment("equipment-unit-unknown", "unit_id", unit_id="2147483647"),
    on_equipment("equipment-name-nul", "name", name="锅\x00炉"),
    on_equipment("equipment-number-taken", "number", number="{equipment_no}"),
]


def _params(*, language: bool) -> list[Any]:
    out = []
    for case in CASES:
        marks = []
        if language and case.english:
            marks = []  # fixed: run-time messages are translated
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


@pytest.fixture
def post_form(
    pages_for: Any, taken: dict[str, Any], snapshot: Callable[[], dict[str, str]]
) -> Callable[[Case], tuple[Any, dict[str, str]]]:
    """Post a case's form (numbers of the taken rows filled in): the answer and the
    watched tables' hashes just before."""

    def post(case: Case) -> tuple[Any, dict[str, str]]:
        client = pages_for(case.who)
        form = {k: v.format(**taken) for k, v in case.form.items()}
        token = client.token(case.csrf_from)
        before = snapshot()
        response = send(lambda: client.http.post(case.url, data={**form, "csrf_token": token}))
        return response, before

    return post


@pytest.mark.parametrize("case", _params(language=False))
def test_a_refused_ledger_form_names_the_field_and_writes_nothing(
    case: Case, post_form: Any, snapshot: Callable[[], dict[str, str]], unpropagated: None
) -> None:
    response, before = post_form(case)
    body = response.get_data(as_text=True)
    assert response.status_code == 422, (response.status_code, body[:1500])
    assert field_error(body, case.target), f"nothing next to {case.target}"
    for name, value in case.kept.items():
        assert f'value="{value}"' in body, f"{name} was not shown again"
    assert snapshot() == before


@pytest.mark.parametrize("case", _params(language=True))
def test_the_ledger_message_is_chinese(case: Case, post_form: Any) -> None:
    response, _ = post_form(case)
    message = field_error(response.get_data(as_text=True), case.target) or ""
    assert CJK.search(message), f"{case.target}: {message!r}"


@pytest.mark.parametrize("ledger", ["meters", "personnel", "equipment"])
def test_an_edit_form_drawn_before_a_change_or_with_a_bad_field_writes_nothing(
    pages_for: Any, taken: dict[str, Any], snapshot: Callable[[], dict[str, str]], ledger: str
) -> None:
    client = pages_for("alice")
    url = f"{PAGES}/{ledger}/{taken[ledger]}/edit"
    form = {"meters": meter(), "personnel": person(), "equipment": equipment()}[ledger]
    before = snapshot()
    stale = client.post(url, {**form, "version": "2000-01-01T00:00:00+00:00"}, url)
    assert stale.status_code == 422 and 'data-testid="form-error"' in stale.get_data(as_text=True)
    version = re.search(r'name="version" value="([^"]+)"', client.text(url))
    assert version, "the edit form carries no version"
    bad = client.post(url, {**form, "name": "", "version": version.group(1)}, url)
    assert bad.status_code == 422 and field_error(bad.get_data(as_text=True), "name")
    assert snapshot() == before


# --- imports and exports --------------------------------------------------------------------


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


HEAD = "管理编号,计量器具名称,器具等级\r\n"


@pytest.mark.parametrize("ledger", ["meters", "personnel", "equipment"])
@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("ledger.pdf", b"%PDF-1.4", LEDGER_FILES[0]),
        ("ledger.xls", b"\xd0\xcf\x11\xe0", LEDGER_FILES[0]),
        ("ledger", b"a,b\r\n", LEDGER_FILES[0]),
        ("ledger.csv", b"", ""),
        ("ledger.csv", b"a" * (MAX_BYTES + 1), f"{MAX_BYTES // 2**20} MiB"),
    ],
    ids=["pdf", "xls", "no-extension", "empty", "just-over-10-MiB"],
)
def test_a_file_refused_on_the_form_is_named_there_and_starts_no_job(
    pages_for: Any,
    sent: list[Any],
    snapshot: Callable[[], dict[str, str]],
    ledger: str,
    name: str,
    content: bytes,
    message: str,
) -> None:
    client = pages_for("alice")
    before = snapshot()
    response = upload_file(client, f"{PAGES}/{ledger}/import", content, name)
    assert response.status_code == 422
    shown = field_error(response.get_data(as_text=True), "file") or ""
    assert message in shown and CJK.search(shown), shown
    assert not sent and snapshot() == before


def test_an_import_without_a_file_is_named_on_the_form(pages_for: Any, sent: list[Any]) -> None:
    client = pages_for("alice")
    url = f"{PAGES}/meters/import"
    response = client.post(url, {}, url)
    assert response.status_code == 422 and field_error(response.get_data(as_text=True), "file")
    assert not sent


def test_a_file_over_the_body_limit_answers_413_or_422(
    pages_for: Any, unpropagated: None, sent: list[Any]
) -> None:
    client = pages_for("alice")
    url = f"{PAGES}/meters/import"
    response = send(lambda: upload_file(client, url, b"a" * (12 * 1024 * 1024), "big.csv"))
    assert response.status_code in (413, 422), response.get_data(as_text=True)[:300]
    assert not sent


@pytest.mark.parametrize(
    ("name", "content", "key"),
    [
        ("text.xlsx", b"this is not a workbook", "file"),
        ("junk.csv", b"foo,bar\r\n1,2\r\n", "headings"),
        ("binary.csv", b"\x00\x01\x02,\xff\xfe\r\n", "file"),
        (
            "formula.xlsx",
            xlsx([["管理编号", "计量器具名称", "器具等级"], ["BI-F", "=1+1", 2]]),
            "rows[2].name",
        ),
        ("half.csv", (HEAD + "BI-H1,好,2\r\nBI-H2,坏,9\r\n").encode(), "rows[3].level"),
        ("percent.csv", (HEAD + "BI-P%,50%,9\r\n").encode(), "rows[2].level"),
    ],
    ids=["not-a-workbook", "unknown-headings", "binary", "formula-cell", "one-bad-row", "percent"],
)
def test_a_file_refused_by_its_job_names_the_problem_and_writes_nothing(
    pages_for: Any,
    database: Any,
    world: World,
    sent: list[Any],
    snapshot: Callable[[], dict[str, str]],
    name: str,
    content: bytes,
    key: str,
) -> None:
    from ems.jobs.models import JobStatus

    client = pages_for("alice")
    job_id = job_id_of(upload_file(client, f"{PAGES}/meters/import", content, name))
    before = snapshot()
    run_sent(database, sent)
    job = job_row(database, world.tenants["alpha"].schema_name, job_id)
    assert job.status == JobStatus.FAILED and key in job.result["errors"], job.result
    after = snapshot()
    assert {k: v for k, v in after.items() if not k.endswith(".jobs")} == {
        k: v for k, v in before.items() if not k.endswith(".jobs")
    }  # only the job's own row changed
    shown = client.get(f"{PAGES}/jobs/{job_id}")
    status = f'data-status="{JobStatus.FAILED.value}"'
    assert shown.status_code == 200 and status in shown.get_data(as_text=True)
    assert client.get(f"{PAGES}/jobs/{job_id}/file").status_code == 404


def test_a_gb18030_csv_is_read_as_chinese(
    pages_for: Any, database: Any, world: World, sent: list[Any]
) -> None:
    from ems.meters.models import Meter

    number, name = f"BI-GB-{tag()}", "一号变压器进线电能表"
    content = (HEAD + f"{number},{name},2\r\n").encode("gb18030")
    client = pages_for("alice")
    job_id = job_id_of(upload_file(client, f"{PAGES}/meters/import", content, "gb.csv"))
    run_sent(database, sent)
    schema = world.tenants["alpha"].schema_name
    try:
        assert job_row(database, schema, job_id).result["created"] == 1
        with database.session(schema) as s:
            assert s.scalar(select(Meter.name).where(Meter.management_number == number)) == name
    finally:
        with database.transaction(schema) as s:
            s.execute(delete(Meter).where(Meter.management_number == number))


def test_a_formula_is_neither_imported_nor_exported_as_one(
    pages_for: Any, database: Any, world: World, sent: list[Any]
) -> None:
    from ems.meters.models import Meter

    number, formula = f"BI-CF-{tag()}", '=HYPERLINK("http://evil.example","点我")'
    content = (HEAD + f'{number},"{formula.replace(chr(34), chr(34) * 2)}",2\r\n').encode()
    client = pages_for("alice")
    schema = world.tenants["alpha"].schema_name
    try:
        job_id_of(upload_file(client, f"{PAGES}/meters/import", content, "f.csv"))
        run_sent(database, sent)
        export = client.post(f"{PAGES}/meters/export", {"format": "csv", "q": number}, M)
        export_id = job_id_of(export)
        run_sent(database, sent)
        text = client.get(f"{PAGES}/jobs/{export_id}/file").get_data().decode("utf-8-sig")
        cells = [c for line in text.splitlines()[1:] for c in line.split(",")]
        assert not any(c.lstrip('"').startswith(("=", "+", "-", "@")) for c in cells), text
    finally:
        with database.transaction(schema) as s:
            s.execute(delete(Meter).where(Meter.management_number == number))


@pytest.mark.parametrize(
    ("ledger", "form", "name"),
    [
        ("meters", {"format": "pdf"}, "format"),
        ("personnel", {"format": "docx"}, "format"),
        ("equipment", {"format": ""}, "format"),
        ("meters", {"level": "9"}, "level"),
        ("meters", {"q": "\x01"}, "q"),
    ],
)
def test_a_bad_export_request_names_the_field_and_starts_no_job(
    pages_for: Any,
    sent: list[Any],
    snapshot: Callable[[], dict[str, str]],
    ledger: str,
    form: dict[str, str],
    name: str,
) -> None:
    client = pages_for("alice")
    before = snapshot()
    response = client.post(f"{PAGES}/{ledger}/export", form, f"{PAGES}/{ledger}")
    assert response.status_code == 422
    assert f"<code>{name}</code>" in response.get_data(as_text=True)
    assert not sent and snapshot() == before


def test_a_bad_export_format_is_explained_in_chinese(pages_for: Any) -> None:
    response = pages_for("alice").post(f"{PAGES}/meters/export", {"format": "pdf"}, M)
    body = response.get_data(as_text=True)
    assert CJK.search(page_message(body)) and CJK.search(body.split("<code>format</code>")[1])


# --- list filters and pickers (GET forms) ----------------------------------------------------


QUERIES = [
    ("meters?level=9", "level", []),
    ("meters?state=lost", "state", []),
    ("meters?q=" + "x" * 101, "q", []),
    ("meters?q=%01", "q", []),
    ("meters?site_id=abc", "site_id", []),
    ("meters?due_by=2026-13-01", "due_by", []),
    ("personnel?qualified=maybe", "qualified", []),
    ("personnel?q=" + "x" * 51, "q", []),
    ("equipment?special=maybe", "special", []),
    ("equipment?unit_id=abc", "unit_id", []),
    ("equipment?class_code=" + "x" * 33, "class_code", []),
    ("actuals/?period=fortnight", "period", []),
    ("actuals/?from=2026-13-01", "from", []),
    ("actuals/?from=2026-03-10&to=2026-03-01", "to", []),
    ("actuals/?energy_type=unobtainium", "energy_type", []),
    ("actuals/?compare=maybe", "compare", []),
    ("actuals/?chart=pie", "chart", []),
    ("actuals/?electricity_basis=both", "electricity_basis", []),
    ("actuals/?period=custom&from=2026-03-01T00:00&to=2026-03-02T00:00", "from", []),
    ("actuals/?from=1900-01-01&to=2100-01-01", "from", []),
    (
        "actuals/?period=hour&from=2026-03-01T00:00%2B08:00&to=2027-03-01T00:00%2B08:00",
        "to",
        [],
    ),
    ("actuals/unit-consumption?period=fortnight", "period", []),
    ("actuals/unit-consumption?product_id=abc", "product_id", []),
    ("actuals/unit-consumption?product_id=-1", "product_id", []),
    ("actuals/unit-consumption?product_id=2147483647", "product_id", []),
    ("actuals/unit-consumption?from=2026-03-10&to=2026-03-01", "from", []),
    ("upload/?from=2026-13-01", "from", []),
    ("upload/?from=2026-03-10&to=2026-03-01", "from", []),
    ("upload/?from=2024-01-01&to=2026-01-01", "to", []),
    ("upload/?registration_id=abc", "registration_id", []),
    ("upload/?registration_id=2147483647", "registration_id", []),
]


@pytest.mark.parametrize(
    ("query", "name"), [pytest.param(q, n, id=q[:60], marks=m) for q, n, m in QUERIES]
)
def test_a_bad_filter_or_picker_value_is_named_next_to_the_field(
    pages_for: Any, query: str, name: str
) -> None:
    response = pages_for("vera").get(f"{PAGES}/{query}")
    assert response.status_code == 422, response.status_code
    message = field_error(response.get_data(as_text=True), name)
    assert message and CJK.search(message), (name, message)


@pytest.fixture
def network(database: Any, world: World, pages_for: Any) -> Iterator[None]:
    """Alpha with the default electricity network while the test runs (none before, after)."""
    from ems.networks.models import NetworkFlow, NetworkNode

    def clear() -> None:
        with database.transaction(world.tenants["alpha"].schema_name) as s:
            s.execute(delete(NetworkFlow))
            s.execute(delete(NetworkNode))

    clear()
    url = f"{PAGES}/networks/"
    built = pages_for("alice").post(f"{url}default-build", {"energy_types": "electricity"}, url)
    assert built.status_code == 303
    yield
    clear()


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("from=2026-13-01", "from"),
        ("to=someday", "to"),
        ("from=2026-03-10&to=2026-03-01", "to"),
        ("live=maybe", "live"),
    ],
)
def test_a_bad_network_picker_value_is_named_next_to_the_field(
    network: None, pages_for: Any, query: str, name: str
) -> None:
    response = pages_for("vera").get(f"{PAGES}/networks/?{query}")
    assert response.status_code == 422
    message = field_error(response.get_data(as_text=True), name)
    assert message and CJK.search(message), (name, message)


@pytest.mark.parametrize("types", [[], ["unobtainium"], ["x" * 33], ["electricity", "ether"]])
def test_a_bad_default_build_is_named_on_the_checkboxes_and_builds_nothing(
    pages_for: Any, database: Any, world: World, types: list[str]
) -> None:
    from ems.networks.models import NetworkNode

    client = pages_for("alice")
    url = f"{PAGES}/networks/"
    token = client.token(url)
    response = client.http.post(
        f"{url}default-build", data={"energy_types": types, "csrf_token": token}
    )
    assert response.status_code == 422
    message = field_error(response.get_data(as_text=True), "energy_types")
    assert message and CJK.search(message), message
    with database.session(world.tenants["alpha"].schema_name) as s:
        assert s.scalar(select(NetworkNode.id).limit(1)) is None


# --- ids in the path -----------------------------------------------------------------------------


HUGE = "99999999999999999999"  # beyond PostgreSQL's integer and bigint
IDS = [
    *[("get", f"{p}/{HUGE}") for p in ("meters", "personnel", "jobs")],
    *[("get", f"{p}/{HUGE}/{s}") for p, s in (("meters", "edit"), ("equipment", "edit"))],
    *[("get", f"jobs/{HUGE}/{s}") for s in ("status", "file")],
    *[("post", f"{p}/{HUGE}/edit") for p in ("meters", "personnel")],
    ("get", "meters/2147483647"),
    ("get", "personnel/2147483647/edit"),
    ("post", "equipment/2147483647/edit"),
    ("get", "jobs/2147483647/file"),
    ("get", "gateways/no-such-gateway"),
    ("get", "gateways/%25/realtime"),
    ("get", "gateways/%00"),
]


@pytest.mark.parametrize(("method", "path"), IDS)
def test_an_unknown_or_malformed_id_answers_404(
    pages_for: Any, unpropagated: None, method: str, path: str
) -> None:
    client = pages_for("alice")
    url = f"{PAGES}/{path}"
    if method == "post":
        response = send(lambda: client.post(url, meter(), f"{PAGES}/meters/new"))
    else:
        response = send(lambda: client.get(url))
    assert response.status_code == 404, response.get_data(as_text=True)[:500]


@pytest.mark.parametrize("path", ["meters/2147483647", "jobs/2147483647", "gateways/nope"])
def test_a_404_page_explains_in_chinese(pages_for: Any, path: str) -> None:
    response = pages_for("alice").get(f"{PAGES}/{path}")
    assert response.status_code == 404
    assert CJK.search(page_message(response.get_data(as_text=True)))


# --- every form of the portal ----------------------------------------------------------------


COVERED = {
    # test_bad_input_pages.py
    "portal.login",
    "portal.signup",
    "portal.logout",
    "admin_pages.transition",
    "admin_pages.change_plan",
    "members_pages.add",
    "members_pages.change_role",
    "members_pages.remove",
    "members_pages.create_client",
    "members_pages.revoke_client",
    # this file
    "meters_pages.create",
    "meters_pages.update",
    "meters_pages.import_post",
    "meters_pages.export",
    "personnel_pages.create",
    "personnel_pages.update",
    "personnel_pages.import_post",
    "personnel_pages.export",
    "equipment_pages.create",
    "equipment_pages.update",
    "equipment_pages.import_post",
    "equipment_pages.export",
    "network_pages.default_build",
}


def _portal_posts(app: Any) -> dict[str, str]:
    return {
        rule.endpoint: rule.rule
        for rule in app.url_map.iter_rules()
        if "POST" in (rule.methods or ()) and not rule.rule.startswith("/api/")
    }


def test_every_portal_form_has_bad_input_tests(app: Any) -> None:
    """A new form (a POST route outside /api) needs its bad-input cases here."""
    assert set(_portal_posts(app)) == COVERED


def test_a_viewer_posting_any_tenant_form_is_refused_and_nothing_is_written(
    app: Any, pages_for: Any, sent: list[Any], snapshot: Callable[[], dict[str, str]]
) -> None:
    client = pages_for("vera")
    token = client.token(f"{PAGES}/")
    before = snapshot()
    for endpoint, rule in _portal_posts(app).items():
        if not rule.startswith("/t/<slug>/") or endpoint.endswith(".export"):
            continue  # an export is a read: a viewer may start one
        url = re.sub(r"<[^>]+>", "1", rule.replace("<slug>", "alpha-works"))
        response = client.http.post(url, data={"csrf_token": token, "name": "x", "role": "viewer"})
        assert response.status_code == 403, (url, response.status_code)
    assert not sent and snapshot() == before


def test_logout_with_a_forged_token_keeps_the_session(pages_for: Any) -> None:
    client = pages_for("alice")
    assert client.http.post("/logout", data={"csrf_token": "forged"}).status_code == 403
    assert client.get(f"{PAGES}/").status_code == 200
