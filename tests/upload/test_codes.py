"""Combined codes: parsing, the dictionary check, and the mapping and coverage API.

The API tests commit their rows in tenant alpha (the requests run in their own
sessions) and remove them afterwards. The dictionary is a small one shaped like the
simulated platform's (:mod:`tests.upload.codes_fixtures`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select

from ems.actuals.models import Product
from ems.equipment.models import Equipment
from ems.errors import InvalidInput
from ems.org.models import Unit
from ems.telemetry.models import Point
from ems.upload import codes
from ems.upload.models import (
    DictionaryEntry,
    DictionaryVersion,
    UploadCode,
    UploadItem,
    UploadRegistration,
)
from tests.conftest import assert_error
from tests.upload.codes_fixtures import add_registration

BASE = "/api/v1/tenants/alpha-works"
NATIONAL = {"01": 8, "02": 8, "03": 9, "04": 10, "05": 11, "06": 12, "07": 13}


# --- parsing and the dictionary ------------------------------------------------------------


def test_split_and_normalise() -> None:
    assert codes.normalise("04-01-0000-040200-30") == "0401000004020030"
    assert codes.normalise(" 0401000004020030 ") == "0401000004020030"
    assert codes.split("0401000004020030") == {
        "process": "04",
        "unit": "01",
        "equipment_class": "00",
        "equipment_number": "00",
        "data_type": "04",
        "item": "0200",
        "use": "30",
    }
    assert codes.scope_of("0000000001120002") == 1
    assert codes.scope_of("0100000001120002") == 2
    assert codes.scope_of("0101000001120002") == 3
    assert codes.scope_of("0000010101120002") == 4


@pytest.mark.parametrize(
    "text",
    ["", "040100000402003", "04010000040200301", "04-01-0000-0402-0030", "0401000004020O30"],
)
def test_normalise_refuses_other_text(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        codes.normalise(text)
    assert list(caught.value.fields) == ["code"]


def dictionary() -> codes.Dictionary:
    from tests.upload.codes_fixtures import ENTRIES

    book = codes.Dictionary(1, "3")
    for item, code, parent, name, unit, precision in ENTRIES:
        entry = codes.Entry(item, code, parent, name, unit, precision)
        book.entries.setdefault((item, code), []).append(entry)
    return book


def test_check_names_every_problem() -> None:
    book = dictionary()
    assert book.check("0000000001120002", NATIONAL) == []
    assert book.check("0101000001120002", NATIONAL) == []  # unit 01 under process 01
    assert book.check("0000000001000002", NATIONAL) == []  # comprehensive, type 01
    assert book.check("0000010104300130", NATIONAL) == []  # a boiler's output of steel
    assert book.check("0201990701123499", NATIONAL) == [
        "digits 3-4: 01 is not in dictionary 4 (process-unit codes) under process 02 of version 3",
        "digits 5-6: 99 is not in dictionary 17 (key equipment classes) of version 3",
        "digits 11-14: 1234 is not in dictionary 8 (energy types) of version 3",
        "digits 15-16: 99 is not in dictionary 14 (energy uses) of version 3",
    ]
    assert book.check("0900000004000002", NATIONAL) == [
        "digits 11-14: 0000 (comprehensive energy consumption) is only for data types 01, 02",
        "digits 1-2: 09 is not in dictionary 3 (process codes) of version 3",
    ]
    assert book.check("0001000801120002", {}) == [
        "digits 3-4: a process unit needs its process in digits 1-2",
        "digits 7-8: must be 00 when digits 5-6 (equipment class) are 00",
        "digits 3-4: 01 is not in dictionary 4 (process-unit codes) under process 00 of version 3",
        "digits 11-14: the profile names no dictionary for data type 01",
    ]
    assert book.check("0000000099120002", NATIONAL) == [
        "digits 9-10: 99 is not in dictionary 7 (data types) of version 3",
        "digits 11-14: the profile names no dictionary for data type 99",
    ]


def test_precision_and_unit_come_from_digits_11_to_14() -> None:
    book = dictionary()
    assert book.precision_of("0000000001120002", NATIONAL) == 2
    assert book.unit_of("0000000001120002", NATIONAL) == "kWh"
    assert book.unit_of("0000000001000002", NATIONAL) == "tce"
    assert book.precision_of("0000000001000002", NATIONAL) == 4
    assert book.unit_of("0000000005400101", NATIONAL) == "kgce/t"
    assert book.unit_of("0000000001999902", NATIONAL) is None
    assert book.precision_of("0000000001999902", NATIONAL) is None


def test_dictionary_load_reads_one_version(database: Any, world: Any) -> None:
    session = database.session(world.tenants["alpha"].schema_name)
    try:
        registration = add_registration(session, "yunnan", "3")
        book = codes.Dictionary.load(session, registration.id, "3")
        assert book.lookup(8, "1200") is not None and book.lookup(8, "1200").unit == "kWh"
        assert book.lookup(4, "01", "01") is not None
        assert book.lookup(4, "01", "02") is None
        assert codes.Dictionary.load(session, registration.id, "2").empty
    finally:
        session.rollback()
        session.close()


# --- the API -------------------------------------------------------------------------------


@pytest.fixture
def refs(database: Any, world: Any) -> Iterator[dict[str, int]]:
    """Committed in alpha: a registration with dictionary version 3, one without, a unit,
    equipment, two points and a product. Removed at the end."""
    schema = world.tenants["alpha"].schema_name
    with database.transaction(schema) as s:
        registration = add_registration(s, "yunnan", "3")
        bare = add_registration(s, "anhui", None)
        unit = Unit(
            site_id=world.sites["alpha"][0],
            code="UPC-SINTER",
            name="烧结车间",
            kind="workshop",
            role="main_production",
        )
        s.add(unit)
        s.flush()
        boiler = Equipment(
            unit_id=unit.id, name="1号锅炉", number="UPC-B1", class_code="boiler", energy_types=[]
        )
        counter = Point(
            gateway_id="alpha-upc",
            code="UPC.E",
            name="UPC.E",
            energy_type="electricity",
            kind="cumulative",
            unit="kWh",
            in_category_total=False,
        )
        power = Point(
            gateway_id="alpha-upc",
            code="UPC.P",
            name="UPC.P",
            energy_type="electricity",
            kind="instantaneous",
            unit="kW",
        )
        product = Product(code="UPC-STEEL", name="粗钢", unit="t")
        s.add_all([boiler, counter, power, product])
        s.flush()
        ids = {
            "registration": registration.id,
            "bare": bare.id,
            "unit": unit.id,
            "equipment": boiler.id,
            "point": counter.id,
            "power": power.id,
            "product": product.id,
        }
    yield ids
    with database.transaction(schema) as s:
        registrations = [ids["registration"], ids["bare"]]
        for model in (UploadItem, UploadCode, DictionaryEntry, DictionaryVersion):
            s.execute(delete(model).where(model.registration_id.in_(registrations)))
        s.execute(delete(UploadRegistration).where(UploadRegistration.id.in_(registrations)))
        s.execute(delete(Product).where(Product.id == ids["product"]))
        s.execute(delete(Point).where(Point.id.in_([ids["point"], ids["power"]])))
        s.execute(delete(Equipment).where(Equipment.id == ids["equipment"]))
        s.execute(delete(Unit).where(Unit.id == ids["unit"]))


def electricity(**extra: Any) -> dict[str, Any]:
    return {
        "code": "00-00-0000-011200-02",
        "name": "全厂电力消费量",
        "source": "category",
        "energy_type": "electricity",
        **extra,
    }


def test_map_show_replace_and_remove(client_for: Any, refs: dict[str, int]) -> None:
    alice = client_for("alice")
    url = f"{BASE}/upload/registrations/{refs['registration']}/codes"
    created = alice.post(url, json=electricity(realtime=True))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["code"] == "0000000001120002"  # stored as digits
    assert body["scope"] == 1  # what the digits say
    assert body["input_type"] == 2
    assert (body["realtime"], body["day"], body["month"], body["year"]) == (True, True, True, True)
    listed = alice.get(url).get_json()
    assert [row["id"] for row in listed] == [body["id"]]

    one = f"{BASE}/upload/codes/{body['id']}"
    shown = alice.get(one)
    assert shown.status_code == 200
    etag = shown.headers["ETag"]
    assert_error(alice.put(one, json=electricity(name="x")), 428)
    assert_error(alice.put(one, json=electricity(name="x"), headers={"If-Match": '"old"'}), 412)
    replaced = alice.put(
        one, json=electricity(name="电力", month=False), headers={"If-Match": etag}
    )
    assert replaced.status_code == 200, replaced.get_json()
    assert replaced.get_json()["name"] == "电力" and replaced.get_json()["month"] is False
    assert_error(alice.delete(one, headers={"If-Match": etag}), 412)  # stale now
    etag = alice.get(one).headers["ETag"]
    assert alice.delete(one, headers={"If-Match": etag}).status_code == 204
    assert_error(alice.get(one), 404, "not_found")


def test_every_scope_and_source(client_for: Any, refs: dict[str, int]) -> None:
    alice = client_for("alice")
    url = f"{BASE}/upload/registrations/{refs['registration']}/codes"
    for payload in (
        {"code": "0000000001000002", "name": "综合能耗", "source": "comprehensive"},
        {"code": "0100000001120002", "name": "烧结电耗", "source": "point", "scope": 2,
         "unit_id": refs["unit"], "point_id": refs["point"], "realtime": True},
        {"code": "0101000001120002", "name": "1号烧结机", "source": "point",
         "unit_id": refs["unit"], "point_id": refs["power"]},
        {"code": "0000010201120002", "name": "1号电机", "source": "point",
         "equipment_id": refs["equipment"], "point_id": refs["point"]},
        {"code": "0000000004300130", "name": "粗钢产量", "source": "output",
         "product_id": refs["product"]},
        {"code": "0000000005400102", "name": "粗钢单耗", "source": "unit_consumption",
         "product_id": refs["product"]},
        {"code": "0000000006500131", "name": "工业总产值", "source": "output_value"},
        {"code": "0000000006500231", "name": "工业增加值", "source": "value_added",
         "input_type": 5},
    ):  # fmt: skip
        answer = alice.post(url, json=payload)
        assert answer.status_code == 201, (payload, answer.get_json())
    scopes = {row["code"]: row["scope"] for row in alice.get(url).get_json()}
    assert scopes["0100000001120002"] == 2
    assert scopes["0101000001120002"] == 3
    assert scopes["0000010201120002"] == 4


BAD = [
    ({"code": "12-34"}, "code"),
    ({"code": "00000000011200021"}, "code"),
    ({"code": "0000000001123402"}, "code"),  # 1234: not an energy type of version 3
    ({"code": "0000000001120099"}, "code"),  # use 99 unknown
    ({"code": "0000000801120002"}, "code"),  # number without a class
    ({"scope": 2}, "scope"),  # digits say whole plant
    ({"code": "0100000001120002", "source": "point", "energy_type": None}, "unit_id"),
    ({"code": "0101000001120002", "source": "point", "energy_type": None}, "unit_id"),
    ({"code": "0000010201120002", "source": "point", "energy_type": None}, "equipment_id"),
    ({"energy_type": None}, "energy_type"),  # category needs its energy type
    ({"energy_type": "unobtainium"}, "energy_type"),
    ({"source": "point", "energy_type": None, "point_id": 999_999}, "point_id"),
    ({"source": "point", "energy_type": None}, "point_id"),
    ({"source": "output", "energy_type": None}, "product_id"),
    ({"source": "output", "energy_type": None, "product_id": 999_999}, "product_id"),
    ({"source": "output_value"}, "energy_type"),  # a reference the source does not take
    ({"source": "comprehensive", "energy_type": None}, "source"),  # comprehensive is 0000
    ({"code": "0000000001000002"}, "source"),  # 0000 is comprehensive
    (
        {"code": "0000000001000002", "source": "comprehensive", "energy_type": None,
         "realtime": True},
        "realtime",
    ),
    (
        {"code": "0000000004300130", "source": "output", "energy_type": None, "realtime": True},
        "product_id",
    ),
    ({"code": "0100000001120002", "scope": 2, "unit_id": 999_999}, "unit_id"),
    ({"input_type": 6}, "input_type"),
    ({"source": "weather"}, "source"),
    ({"name": ""}, "name"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "field"), BAD)
def test_bad_input_names_the_field(
    client_for: Any, refs: dict[str, int], change: dict[str, Any], field: str
) -> None:
    alice = client_for("alice")
    url = f"{BASE}/upload/registrations/{refs['registration']}/codes"
    error = assert_error(alice.post(url, json=electricity(**change)), 422)
    assert field in error["fields"], error


def test_realtime_only_for_sources_with_quarter_hours(
    client_for: Any, refs: dict[str, int]
) -> None:
    alice = client_for("alice")
    url = f"{BASE}/upload/registrations/{refs['registration']}/codes"
    payload = {
        "code": "0000000006500131",
        "name": "产值",
        "source": "output_value",
        "realtime": True,
    }
    error = assert_error(alice.post(url, json=payload), 422)
    assert error["fields"] == {
        "realtime": ["source output_value has no 15-minute data (only category, point)"]
    }


def test_unknown_code_names_the_dictionary(client_for: Any, refs: dict[str, int]) -> None:
    alice = client_for("alice")
    url = f"{BASE}/upload/registrations/{refs['registration']}/codes"
    error = assert_error(alice.post(url, json=electricity(code="0000000001123402")), 422)
    assert error["fields"]["code"] == [
        "digits 11-14: 1234 is not in dictionary 8 (energy types) of version 3"
    ]


def test_duplicate_code_conflicts(client_for: Any, refs: dict[str, int]) -> None:
    alice = client_for("alice")
    url = f"{BASE}/upload/registrations/{refs['registration']}/codes"
    assert alice.post(url, json=electricity()).status_code == 201
    assert_error(alice.post(url, json=electricity(code="0000000001120002")), 409, "conflict")
    # The same code on another platform is another mapping.
    other = f"{BASE}/upload/registrations/{refs['bare']}/codes"
    assert alice.post(other, json=electricity()).status_code == 201


def test_roles_and_tenants(client_for: Any, refs: dict[str, int]) -> None:
    url = f"{BASE}/upload/registrations/{refs['registration']}/codes"
    for reader in ("vera", "oscar"):
        client = client_for(reader)
        assert client.get(url).status_code == 200
        assert_error(client.post(url, json=electricity()), 403)
    assert_error(client_for("bob").get(url), 404)
    beta = f"/api/v1/tenants/beta-works/upload/registrations/{refs['registration']}"
    bob = client_for("bob")
    assert_error(bob.get(f"{beta}/codes"), 404, "not_found")
    assert_error(bob.post(f"{beta}/codes", json=electricity()), 404, "not_found")
    assert_error(bob.get(f"{beta}/coverage"), 404, "not_found")
    assert_error(client_for("alice").get(f"{BASE}/upload/registrations/999999/codes"), 404)


def test_without_a_dictionary_codes_are_accepted_and_flagged(
    client_for: Any, refs: dict[str, int]
) -> None:
    alice = client_for("alice")
    url = f"{BASE}/upload/registrations/{refs['bare']}/codes"
    unknown = alice.post(url, json=electricity(code="0000000001123402"))
    assert unknown.status_code == 201, unknown.get_json()
    # The digits' own rules still hold.
    assert_error(alice.post(url, json=electricity(code="0000000801120002")), 422)
    report = alice.get(f"{BASE}/upload/registrations/{refs['bare']}/coverage").get_json()
    assert report["dictionary_version"] is None
    assert report["codes"][0]["problems"] == ["no dictionary downloaded yet"]
    assert report["codes"][0]["formatted"] == "00-00-0000-011234-02"  # anhui: hyphenated
    assert report["counts"]["unchecked"] == 1 and report["counts"]["invalid"] == 0


def test_coverage(client_for: Any, refs: dict[str, int], database: Any, world: Any) -> None:
    alice = client_for("alice")
    reg = refs["registration"]
    url = f"{BASE}/upload/registrations/{reg}/codes"
    for payload in (
        {"code": "0000000001000002", "name": "综合能耗", "source": "comprehensive"},
        {"code": "0000000004300130", "name": "粗钢产量", "source": "output",
         "product_id": refs["product"]},
        {"code": "0000000005400102", "name": "粗钢单耗", "source": "unit_consumption",
         "product_id": refs["product"], "month": False},
        # Steam in t, measured by a kW point: a unit the dictionary's cannot be scaled to.
        {"code": "0000010201130002", "name": "锅炉蒸汽", "source": "point",
         "equipment_id": refs["equipment"], "point_id": refs["power"]},
    ):  # fmt: skip
        assert alice.post(url, json=payload).status_code == 201
    # A code the platform dropped from the dictionary after it was mapped.
    schema = world.tenants["alpha"].schema_name
    with database.transaction(schema) as s:
        s.execute(
            delete(DictionaryEntry).where(
                DictionaryEntry.registration_id == reg,
                DictionaryEntry.item == 10,
                DictionaryEntry.code == "3001",
            )
        )
    report = alice.get(f"{BASE}/upload/registrations/{reg}/coverage").get_json()
    assert report["dictionary_version"] == "3"
    assert report["comprehensive_basis"] in ("network", "category actuals")
    by_source = {(e["source"], e["reference"]): e for e in report["expected"]}
    total = by_source[("comprehensive", None)]
    assert total["status"] == "mapped" and total["stat_types"] == ["day", "month"]
    assert [c["code"] for c in total["codes"]] == ["0000000001000002"]
    assert by_source[("output", refs["product"])]["status"] == "mapped"
    unit_consumption = by_source[("unit_consumption", refs["product"])]
    assert unit_consumption["status"] == "missing"  # mapped, but not for months
    assert unit_consumption["missing_stat_types"] == ["month"]
    assert by_source[("output_value", None)]["status"] == "missing"
    assert by_source[("value_added", None)]["codes"] == []
    mapped = {c["code"]: c for c in report["codes"]}
    assert mapped["0000000004300130"]["problems"] == [
        "digits 11-14: 3001 is not in dictionary 10 (non-energy products) of version 3"
    ]
    assert mapped["0000000004300130"]["formatted"] == "00-00-0000-043001-30"
    assert mapped["0000000001000002"]["problems"] == []
    assert mapped["0000000001000002"]["unit_mismatch"] is False
    steam = mapped["0000010201130002"]
    assert (steam["source_unit"], steam["dictionary_unit"], steam["unit_mismatch"]) == (
        "kW",
        "t",
        True,
    )
    assert mapped["0000000005400102"]["source_unit"] == "kgce/t"
    assert mapped["0000000005400102"]["unit_mismatch"] is False
    counts = report["counts"]
    statuses = [e["status"] for e in report["expected"]]
    assert counts["expected"] == len(statuses)
    assert counts["mapped"] == statuses.count("mapped")
    assert counts["missing"] == statuses.count("missing")
    assert counts["invalid"] == 1 and counts["unit_mismatches"] == 1


def test_removing_a_code_keeps_its_queued_items(
    client_for: Any, refs: dict[str, int], database: Any, world: Any
) -> None:
    from datetime import UTC, datetime

    alice = client_for("alice")
    url = f"{BASE}/upload/registrations/{refs['registration']}/codes"
    code_id = alice.post(url, json=electricity()).get_json()["id"]
    schema = world.tenants["alpha"].schema_name
    at = datetime(2026, 3, 1, 16, tzinfo=UTC)
    with database.transaction(schema) as s:
        s.add(
            UploadItem(
                registration_id=refs["registration"],
                code_id=code_id,
                code="0000000001120002",
                stat_type=1,
                period_start=at,
                value=1,
                input_type=2,
                scope=1,
                due_at=at,
            )
        )
    one = f"{BASE}/upload/codes/{code_id}"
    etag = alice.get(one).headers["ETag"]
    assert alice.delete(one, headers={"If-Match": etag}).status_code == 204
    with database.transaction(schema) as s:
        items = s.execute(
            select(UploadItem.code_id, UploadItem.code, UploadItem.status).where(
                UploadItem.registration_id == refs["registration"]
            )
        ).all()
    assert items == [(None, "0000000001120002", "pending")]
