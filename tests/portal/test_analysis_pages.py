"""The analysis pages (energy actuals, networks, gateways, provincial upload) answer what the
API answers, show bad picker input next to the field, and keep tenants and roles apart.

Alpha's figures for 2040-2041 are category rollup rows written directly, as
``tests/test_actuals.py`` does (the rollup code is tested on its own): electricity 1000 kWh a
day in March 2041, 800 in February 2041, 900 in March 2040; gas 100 m3 a day in March 2041;
electricity 40 kWh an hour on 9 and 10 March 2041, for a shift 08:00-16:00. Every figure a
page shows is compared with the API's answer to the same query. What a test writes into
the shared database is removed when it ends.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete

from tests.conftest import ApiClient, World

SLUG = "alpha-works"
PAGES = f"/t/{SLUG}"
API = f"/api/v1/tenants/{SLUG}"
TZ = ZoneInfo("Asia/Shanghai")


class Page(HTMLParser):
    """A page's table rows (their ``data-*`` attributes, and their tbody's) and test ids."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: list[dict[str, str]] = []
        self.testids: set[str] = set()
        self._group: dict[str, str] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = {k: v or "" for k, v in attrs}
        if "data-testid" in data:
            self.testids.add(data["data-testid"])
        if tag == "tbody":
            self._group = {k: v for k, v in data.items() if k.startswith("data-")}
        elif tag == "tr":
            self.rows.append({**self._group, **data})

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._group = {}

    def find(self, **wanted: str) -> list[dict[str, str]]:
        """Rows whose data attributes have these values (``energy_type`` for data-energy-type)."""
        keys = {"data-" + k.replace("_", "-"): v for k, v in wanted.items()}
        return [row for row in self.rows if all(row.get(k) == v for k, v in keys.items())]


def local(day: date, hour: int = 0) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=TZ).astimezone(UTC)


def days(first: date, end: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((end - first).days)]


@pytest.fixture
def api_for(app: Any, world: World) -> Any:
    def make(name: str) -> ApiClient:
        client = ApiClient(app.test_client())
        assert client.login(world.users[name]).status_code == 200
        return client

    return make


# --- energy actuals -------------------------------------------------------------------


@pytest.fixture(scope="module")
def actuals_data(database: Any, world: World) -> Iterator[None]:
    """The category rows of the module docstring and one shift, removed afterwards."""
    from ems.actuals import shifts
    from ems.actuals.models import Shift
    from ems.telemetry.models import Point
    from ems.telemetry.rollup_models import CategoryRollup

    schema = world.tenants["alpha"].schema_name
    rows: list[tuple[str, str, str, datetime, float]] = []
    for first, end, per_day in (
        (date(2041, 3, 1), date(2041, 4, 1), 1000.0),
        (date(2041, 2, 1), date(2041, 3, 1), 800.0),
        (date(2040, 3, 1), date(2040, 4, 1), 900.0),
    ):
        rows += [("electricity", "kWh", "1d", local(day), per_day) for day in days(first, end)]
    rows += [
        ("natural_gas_field", "m3", "1d", local(day), 100.0)
        for day in days(date(2041, 3, 1), date(2041, 4, 1))
    ]
    for day in (date(2041, 3, 9), date(2041, 3, 10)):
        rows += [("electricity", "kWh", "1h", local(day, hour), 40.0) for hour in range(24)]
    with database.transaction(schema) as s:
        # Category rows are read for the (type, unit) pairs of counters that count in totals.
        points = [
            Point(gateway_id="alpha-works-analysis", code=f"{code}-{uuid.uuid4().hex[:8]}",
                  name=code, energy_type=energy_type, kind="cumulative", unit=unit)
            for code, energy_type, unit in (("E", "electricity", "kWh"),
                                            ("G", "natural_gas_field", "m3"))
        ]  # fmt: skip
        s.add_all(points)
        s.flush()
        point_ids = [p.id for p in points]
        s.add_all(
            CategoryRollup(
                energy_type=t, unit=u, grain=g, start=start, consumption=v, points=1, flags=0
            )
            for t, u, g, start, v in rows
        )
        shift_id = shifts.create_shift(s, {"name": "早班", "start": "08:00", "end": "16:00"}).id
    yield
    with database.transaction(schema) as s:
        s.execute(
            delete(CategoryRollup).where(
                CategoryRollup.start >= local(date(2040, 1, 1)),
                CategoryRollup.start < local(date(2042, 1, 1)),
            )
        )
        s.execute(delete(Shift).where(Shift.id == shift_id))
        s.execute(delete(Point).where(Point.id.in_(point_ids)))


def _same_figures(page: Page, report: dict[str, Any], compare: bool = True) -> None:
    """Every bucket, line and total of the API's report is on the page, with its value."""
    buckets = [row["data-bucket"] for row in page.rows if "data-total-tce" in row]
    assert buckets == [b["label"] for b in report["buckets"]]
    for bucket in report["buckets"]:
        [total] = [r for r in page.find(bucket=bucket["label"]) if "data-total-tce" in r]
        assert total["data-total-tce"] == bucket["total_tce"]
        if compare:
            assert total["data-yoy"] == (bucket["year_on_year"].get("change_pct") or "")
            assert total["data-mom"] == (bucket["period_on_period"].get("change_pct") or "")
        for line in bucket["energy"]:
            [row] = page.find(bucket=bucket["label"], energy_type=line["energy_type"])
            assert (row["data-quantity"], row["data-tce"]) == (line["quantity"], line["tce"] or "")
            if compare:
                assert row["data-yoy"] == (line["year_on_year"].get("tce_change_pct") or "")
                assert row["data-mom"] == (line["period_on_period"].get("tce_change_pct") or "")
            else:
                assert "data-yoy" not in row


@pytest.mark.parametrize(
    ("period", "bounds", "labels"),
    [
        ("day", {"from": "2041-03-10"}, ["2041-03-10"]),
        ("week", {"from": "2041-03-04"}, ["2041-W10"]),
        ("month", {"from": "2041-02-01", "to": "2041-04-01"}, ["2041-02", "2041-03"]),
        ("quarter", {"from": "2041-01-01"}, ["2041-Q1"]),
        ("year", {"from": "2041-01-01"}, ["2041"]),
        ("custom", {"from": "2041-03-05", "to": "2041-03-08"}, None),
        (
            "shift",
            {"from": "2041-03-09", "to": "2041-03-11"},
            ["2041-03-09 早班", "2041-03-10 早班"],
        ),
    ],
)
def test_each_period_kind_shows_the_apis_figures(
    actuals_data: None,
    pages_for: Any,
    api_for: Any,
    period: str,
    bounds: dict[str, str],
    labels: list[str] | None,
) -> None:
    query = {"period": period, **bounds}
    response = pages_for("vera").get(f"{PAGES}/actuals/", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    api = api_for("vera").get(f"{API}/actuals", query_string=query)
    assert api.status_code == 200, api.get_json()
    report = api.get_json()
    if labels is not None:
        assert [b["label"] for b in report["buckets"]] == labels
    assert any(line["quantity"] != "0.000" for b in report["buckets"] for line in b["energy"])
    page = Page(response.get_data(as_text=True))
    assert {"period-picker", "actuals-table", "actuals-chart"} <= page.testids
    _same_figures(page, report)


def test_month_is_formatted_for_the_locale_and_charted(
    actuals_data: None, pages_for: Any, api_for: Any
) -> None:
    query = {"period": "month", "from": "2041-03-01"}
    text = pages_for("alice").text(f"{PAGES}/actuals/?period=month&from=2041-03-01")
    [march] = api_for("alice").get(f"{API}/actuals", query_string=query).get_json()["buckets"]
    electricity = next(line for line in march["energy"] if line["energy_type"] == "electricity")
    assert electricity["quantity"] == "31000.000"  # 31 days of 1000 kWh: the data is real
    assert "31,000.000 kWh" in text and "电力" in text and "同比" in text and "环比" in text
    tce = Decimal(electricity["tce"])
    assert f"{tce:,.4f}" in text
    assert "&#34;stack&#34;: &#34;tce&#34;" in text or '"stack": "tce"' in text
    english = pages_for("alice", lang="en").text(f"{PAGES}/actuals/?period=month&from=2041-03-01")
    assert "Energy actuals" in english and "Electricity" in english and "31,000.000 kWh" in english
    line_chart = pages_for("alice").text(
        f"{PAGES}/actuals/?period=month&from=2041-03-01&chart=line"
    )
    assert 'data-chart="line"' in line_chart


def test_energy_type_filter_and_comparison_off(
    actuals_data: None, pages_for: Any, api_for: Any
) -> None:
    query = {"period": "month", "from": "2041-03-01", "energy_type": "natural_gas_field"}
    query |= {"compare": "false"}
    response = pages_for("vera").get(f"{PAGES}/actuals/", query_string=query)
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    report = api_for("vera").get(f"{API}/actuals", query_string=query).get_json()
    assert {line["energy_type"] for line in report["buckets"][0]["energy"]} == {"natural_gas_field"}
    _same_figures(page, report, compare=False)
    assert "selected>气田天然气" in response.get_data(as_text=True)


def test_previous_and_next_links_move_by_the_report_length(
    actuals_data: None, pages_for: Any
) -> None:
    text = pages_for("vera").text(f"{PAGES}/actuals/?period=month&from=2041-02-01&to=2041-04-01")
    assert "from=2040-12-01&amp;to=2041-02-01" in text
    assert "from=2041-04-01&amp;to=2041-06-01" in text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"period": "week", "from": "2041-03-05"}, "from", "须为周一（ISO 周）"),
        ({"period": "fortnight"}, "period", "须为可选值之一"),
        ({"period": "custom", "from": "2041-03-05"}, "to", "自定义时段必须填写"),
        ({"period": "day", "from": "2041-03-10", "to": "2041-03-09"}, "to", "须晚于开始日期"),
        ({"period": "day", "from": "10/03/2041"}, "from", "日期（YYYY-MM-DD）"),
        ({"energy_type": "unobtainium"}, "energy_type", "不在能源品种目录中"),
        ({"compare": "maybe"}, "compare", ""),
        ({"chart": "pie"}, "chart", "须为可选值之一"),
    ],
)
def test_bad_picker_input_is_shown_next_to_the_field(
    pages_for: Any, api_for: Any, query: dict[str, str], field: str, message: str
) -> None:
    response = pages_for("vera").get(f"{PAGES}/actuals/", query_string=query)
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert f'data-testid="error-{field}"' in text and message in text
    assert 'data-testid="actuals-table"' not in text
    assert f'value="{query.get("from", "")}"' in text  # the picker keeps what was typed
    if field != "chart":  # the page's own field; the rest is the API's validation
        api = api_for("vera").get(f"{API}/actuals", query_string=query)
        assert api.status_code == 422
        assert any(field in name for name in api.get_json()["error"]["fields"])


def test_shift_report_without_shifts_says_so(pages_for: Any) -> None:
    response = pages_for("bob").get("/t/beta-works/actuals/?period=shift")
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert 'data-testid="error-period"' in text and "尚未定义班次" in text


def test_unit_consumption_tab_shows_the_apis_energy(
    actuals_data: None, pages_for: Any, api_for: Any
) -> None:
    query = {"period": "month", "from": "2041-02-01", "to": "2041-04-01"}
    response = pages_for("vera").get(f"{PAGES}/actuals/unit-consumption", query_string=query)
    assert response.status_code == 200
    page = Page(response.get_data(as_text=True))
    report = api_for("vera").get(f"{API}/unit-consumption", query_string=query).get_json()
    for bucket in report["buckets"]:
        [head] = [r for r in page.find(bucket=bucket["label"]) if "data-energy-tce" in r]
        assert head["data-energy-tce"] == bucket["energy_tce"]
    assert "unit-consumption-table" in page.testids
    bad = pages_for("vera").get(f"{PAGES}/actuals/unit-consumption?period=month&from=2041-03-02")
    assert bad.status_code == 422 and 'data-testid="error-from"' in bad.get_data(as_text=True)


# --- networks ---------------------------------------------------------------------------


@pytest.fixture
def no_network(database: Any, world: World) -> Iterator[None]:
    """Alpha without a network before and after (as tests/test_networks.py leaves it)."""
    from ems.networks.models import NetworkFlow, NetworkNode

    def clear() -> None:
        with database.transaction(world.tenants["alpha"].schema_name) as s:
            s.execute(delete(NetworkFlow))
            s.execute(delete(NetworkNode))

    clear()
    yield
    clear()


def test_network_empty_state_then_default_build(
    no_network: None, pages_for: Any, api_for: Any
) -> None:
    alice, vera = pages_for("alice"), pages_for("vera")
    empty = alice.text(f"{PAGES}/networks/")
    assert 'data-testid="network-empty"' in empty and "POST /network/default-build" in empty
    assert 'data-testid="default-build"' in empty
    viewer = vera.text(f"{PAGES}/networks/")
    assert 'data-testid="network-empty"' in viewer and 'data-testid="default-build"' not in viewer
    assert viewer.count('method="post"') == 1  # only "log out"
    form_page = f"{PAGES}/networks/"
    assert (
        vera.post(
            f"{PAGES}/networks/default-build", {"energy_types": "electricity"}, form_page
        ).status_code
        == 403
    )

    refused = alice.post(f"{PAGES}/networks/default-build", {}, csrf_from=form_page)
    assert refused.status_code == 422
    assert 'data-testid="error-energy_types"' in refused.get_data(as_text=True)
    unknown = alice.post(f"{PAGES}/networks/default-build", {"energy_types": "ether"}, form_page)
    assert unknown.status_code == 422 and "不在能源品种目录中" in unknown.get_data(as_text=True)

    built = alice.post(
        f"{PAGES}/networks/default-build", {"energy_types": "electricity"}, form_page
    )
    assert built.status_code == 303 and built.headers["Location"] == f"{PAGES}/networks/"
    text = alice.text(f"{PAGES}/networks/")
    page = Page(text)
    assert {"network-svg", "comprehensive", "network-items", "equipping-rates"} <= page.testids
    api = api_for("alice")
    svg = api.get(f"{API}/network/diagram.svg").get_data(as_text=True)
    assert svg.startswith("<svg") and svg in text  # the API's own picture, inline
    assert "企业能量平衡网络图" in text
    rates = api.get(f"{API}/network/equipping-rates").get_json()["rates"]
    assert rates and all(
        Decimal(page.find(energy_type=r["energy_type"], level=str(r["level"]))[0]["data-rate"])
        == Decimal(r["rate"])
        for r in rates
    )
    metering = alice.text(f"{PAGES}/networks/?energy_type=electricity&live=true")
    assert "电力能源计量网络图" in metering and 'aria-current="page">电力计量网络图' in metering
    bad = alice.get(f"{PAGES}/networks/?from=2041-03-10&to=2041-03-01")
    assert bad.status_code == 422 and 'data-testid="error-to"' in bad.get_data(as_text=True)
    for junk in ("%00", "no%20such"):  # the energy type is a tab: its error heads the form
        refused = alice.get(f"{PAGES}/networks/?energy_type={junk}")
        assert refused.status_code == 422
        assert 'data-testid="form-error"' in refused.get_data(as_text=True)
    [link] = re.findall(r'href="(/api/v1/[^"]+/network/diagram\.svg[^"]*)"', metering)
    picture = alice.get(html.unescape(link))  # "open as SVG": the API, with the page's session
    assert picture.status_code == 200 and picture.mimetype == "image/svg+xml"


# --- gateways ---------------------------------------------------------------------------


@pytest.fixture
def two_gateways(database: Any, world: World) -> Iterator[dict[str, str]]:
    """An online and an offline gateway of alpha, a reading and a quarantined payload."""
    from ems.telemetry.models import GatewayState, LatestValue, Point, QuarantineEntry
    from ems_tenants import gateways
    from ems_tenants.models import Gateway, Tenant

    tag = uuid.uuid4().hex[:8]
    now = datetime.now(UTC)
    with database.transaction() as s:
        tenant = s.get(Tenant, world.tenants["alpha"].id)
        ids = {
            name: gateways.register(s, tenant, {"name": f"{name}{tag}"}).gateway.id
            for name in ("on", "off")
        }
    schema = world.tenants["alpha"].schema_name
    with database.transaction(schema) as s:
        s.add(GatewayState(gateway_id=ids["on"], last_batch_at=now - timedelta(minutes=1),
                           readings_total=4242))  # fmt: skip
        s.add(GatewayState(gateway_id=ids["off"], last_batch_at=now - timedelta(hours=2),
                           readings_total=7))  # fmt: skip
        point = Point(gateway_id=ids["on"], code=f"E{tag}", name="总进线电能", kind="cumulative",
                      energy_type="electricity", unit="kWh")  # fmt: skip
        s.add(point)
        s.flush()
        s.add(LatestValue(point=point.id, ts=now, value=1234.5, quality=0, received_at=now))
        s.add(QuarantineEntry(gateway_id=ids["off"], channel="data", layer="network",
                              reason=f"bad signature {tag}"))  # fmt: skip
    yield ids | {"tag": tag}
    with database.transaction(schema) as s:
        s.execute(delete(LatestValue).where(LatestValue.point == point.id))
        s.execute(delete(Point).where(Point.id == point.id))
        s.execute(delete(GatewayState).where(GatewayState.gateway_id.in_(ids.values())))
        s.execute(delete(QuarantineEntry).where(QuarantineEntry.gateway_id.in_(ids.values())))
    with database.transaction() as s:
        s.execute(delete(Gateway).where(Gateway.id.in_(ids.values())))


def test_gateways_online_offline_points_and_quarantine(
    two_gateways: dict[str, str], pages_for: Any
) -> None:
    text = pages_for("vera").text(f"{PAGES}/gateways/")
    page = Page(text)
    assert "gateways-table" in page.testids
    [on] = page.find(gateway=two_gateways["on"])
    [off] = page.find(gateway=two_gateways["off"])
    assert (on["data-online"], off["data-online"]) == ("true", "false")
    assert "4,242" in text and "在线" in text and "离线" in text
    assert f"bad signature {two_gateways['tag']}" in text and "网络层" in text

    detail = pages_for("vera").text(f"{PAGES}/gateways/{two_gateways['on']}")
    assert 'data-testid="online"' in detail and "1,234.50 kWh" in detail and "总进线电能" in detail
    assert 'data-testid="gateway-realtime"' in detail
    fragment = pages_for("vera").get(
        f"{PAGES}/gateways/{two_gateways['on']}/realtime",
        headers={"HX-Request": "true", "X-EMS-Background": "1"},
    )
    assert fragment.status_code == 200 and "<html" not in fragment.get_data(as_text=True)
    offline = pages_for("vera").text(f"{PAGES}/gateways/{two_gateways['off']}")
    assert 'data-testid="offline"' in offline and f"bad signature {two_gateways['tag']}" in offline
    assert pages_for("bob").get(f"/t/beta-works/gateways/{two_gateways['on']}").status_code == 404
    assert pages_for("vera").get(f"{PAGES}/gateways/%00").status_code == 404


# --- provincial upload ------------------------------------------------------------------


@pytest.fixture
def upload_data(database: Any, world: World) -> Iterator[int]:
    """A registration with three days of day figures (one late, one missing), a figure
    waiting for correction and a refused request; removed afterwards."""
    from ems.upload import periods
    from ems.upload.models import (
        StatType,
        UploadCode,
        UploadItem,
        UploadRegistration,
        UploadRequest,
    )

    code = "0000000001000000"
    schema = world.tenants["alpha"].schema_name
    with database.transaction(schema) as s:
        reg = UploadRegistration(profile=f"page_{uuid.uuid4().hex[:8]}", base_url="https://p.example",
                                 enterprise_code="91530100MA6K1X2Y3X", region_code="530100",
                                 realtime_minutes=60, upload_time="01:30:00",
                                 status="registered")  # fmt: skip
        s.add(reg)
        s.flush()
        s.add(UploadCode(registration_id=reg.id, code=code, name="综合能耗", scope=1,
                         source="category", realtime=False))  # fmt: skip
        for day, late in ((date(2025, 6, 10), False), (date(2025, 6, 11), True)):
            start = local(day)
            due = periods.due(StatType.DAY, start, TZ, 60, "01:30:00")
            accepted = due + (timedelta(hours=3) if late else timedelta(minutes=-5))
            s.add(UploadItem(registration_id=reg.id, code=code, stat_type=1, period_start=start,
                             value=Decimal(5), input_type=2, scope=1, status="accepted",
                             accepted_at=accepted, due_at=due, queued_at=start))  # fmt: skip
        start = local(date(2025, 6, 12))
        s.add(UploadItem(registration_id=reg.id, code=code, stat_type=1, period_start=start,
                         value=None, input_type=2, scope=1, status="correction",
                         reason="code 0000000001000000 not in dictionary 2025-06",
                         due_at=start + timedelta(days=1), queued_at=start))  # fmt: skip
        s.add(UploadRequest(registration_id=reg.id, at=local(date(2025, 6, 12), 2), endpoint="data",
                            url="https://p.example/data", duration_ms=80, outcome="refused",
                            response_code="E102", message="编码错误 bad code"))  # fmt: skip
        reg_id = reg.id
    yield reg_id
    with database.transaction(schema) as s:
        for table in (UploadRequest, UploadItem, UploadCode):
            s.execute(delete(table).where(table.registration_id == reg_id))
        s.execute(delete(UploadRegistration).where(UploadRegistration.id == reg_id))


def test_upload_page_shows_the_apis_statistics(
    upload_data: int, pages_for: Any, api_for: Any
) -> None:
    query = {"registration_id": str(upload_data), "from": "2025-06-10", "to": "2025-06-12"}
    response = pages_for("vera").get(f"{PAGES}/upload/", query_string=query)
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    page = Page(text)
    api = api_for("vera").get(f"{API}/upload/statistics/days", query_string=query).get_json()
    [stats] = api["registrations"]
    assert [d["completeness"] for d in stats["days"]] == [100.0, 100.0, 0.0]
    for day in stats["days"]:
        [row] = page.find(day=day["day"])
        for name in ("completeness", "timeliness"):
            shown = row[f"data-{name}"]
            assert (Decimal(shown) if shown else None) == (
                None if day[name] is None else Decimal(str(day[name]))
            )
    [reg] = page.find(registration=str(upload_data))
    assert reg["data-status"] == "registered" and "已注册" in text
    assert "not in dictionary 2025-06" in text and "编码错误 bad code" in text
    assert {"registrations-table", "upload-days", "upload-corrections", "upload-requests"} <= (
        page.testids
    )
    bad = pages_for("vera").get(f"{PAGES}/upload/?from=2025-06-12&to=2025-06-10")
    assert bad.status_code == 422 and 'data-testid="error-from"' in bad.get_data(as_text=True)
    unknown = pages_for("vera").get(f"{PAGES}/upload/?registration_id={upload_data + 10**6}")
    assert unknown.status_code == 422 and "没有该账户" in unknown.get_data(as_text=True)


# --- tenants, roles, language -----------------------------------------------------------

ANALYSIS_PAGES = ("actuals/", "actuals/unit-consumption", "networks/", "gateways/", "upload/")


@pytest.mark.parametrize("path", ANALYSIS_PAGES)
def test_another_tenants_pages_answer_404(pages_for: Any, path: str) -> None:
    assert pages_for("bob").get(f"{PAGES}/{path}").status_code == 404
    assert pages_for("bob").get(f"/t/beta-works/{path}").status_code == 200


@pytest.mark.parametrize("path", ANALYSIS_PAGES)
def test_a_viewer_sees_no_write_buttons(pages_for: Any, path: str) -> None:
    text = pages_for("vera").text(f"{PAGES}/{path}")
    assert text.count('method="post"') == 1  # "log out" only
    assert 'data-testid="default-build"' not in text


def test_the_menu_opens_the_analysis_pages(pages_for: Any) -> None:
    text = pages_for("vera").text(f"{PAGES}/")
    for path in ("actuals/", "networks/", "gateways/", "upload/"):
        assert f'href="{PAGES}/{path}"' in text, path


def test_keyed_labels_exist_in_both_languages() -> None:
    from ems.actuals.models import PriceBasis, ValueKind
    from ems.portal import i18n
    from ems.telemetry.intervals import Flag
    from ems.upload.models import ItemStatus
    from ems.upload.stats_schemas import ENDPOINTS, OUTCOMES
    from ems_tenants.models import GatewayStatus

    keys = [f"flag:{str(f.name).lower()}" for f in Flag]
    keys += [f"value:{v.value}" for v in ValueKind] + [f"price:{p.value}" for p in PriceBasis]
    keys += [f"gateway:{g.value}" for g in GatewayStatus] + [f"item:{s.value}" for s in ItemStatus]
    keys += [f"outcome:{o}" for o in OUTCOMES] + [f"endpoint:{e}" for e in ENDPOINTS]
    keys += [f"layer:{layer}" for layer in ("network", "communication", "business")]
    for language in ("zh", "en"):
        missing = [key for key in keys if key not in i18n.catalogue(language)]
        assert not missing, (language, missing)
