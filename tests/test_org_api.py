"""The organisation model: units under sites, their nesting, roles and boundary."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.conftest import assert_error

BASE = "/api/v1/tenants/alpha-works"


def tag() -> str:
    return uuid.uuid4().hex[:6].upper()


def unit(client: Any, site_id: int, code: str, kind: str, **fields: Any) -> dict[str, Any]:
    body = {"site_id": site_id, "code": code, "name": f"单元 {code}", "kind": kind, **fields}
    r = client.post(f"{BASE}/units", json=body)
    assert r.status_code == 201, r.get_json()
    made: dict[str, Any] = r.get_json()
    return made


def put(client: Any, unit_id: int, body: dict[str, Any]) -> Any:
    etag = client.get(f"{BASE}/units/{unit_id}").headers["ETag"]
    return client.put(f"{BASE}/units/{unit_id}", json=body, headers={"If-Match": etag})


def editable(made: dict[str, Any], **changes: Any) -> dict[str, Any]:
    keep = {k: v for k, v in made.items() if k not in ("id", "created_at", "updated_at")}
    return {**keep, **changes}


def find(nodes: list[dict[str, Any]], code: str) -> dict[str, Any]:
    for node in nodes:
        if node["code"] == code:
            return node
        try:
            return find(node["children"], code)
        except LookupError:
            continue
    raise LookupError(code)


@pytest.fixture
def new_site(app: Any, world: Any, client_for: Any) -> Iterator[Callable[[], int]]:
    """Make fresh alpha sites; removed afterwards with their units, so that alpha's site
    ids stay clear of the ids the isolation tests expect to exist in beta only."""
    from sqlalchemy import delete, update

    from ems.org.models import Unit
    from ems.sites.models import Site

    made: list[int] = []

    def make() -> int:
        r = client_for("alice").post(f"{BASE}/sites", json={"code": f"ORG{tag()}", "name": "组织"})
        assert r.status_code == 201, r.get_json()
        made.append(r.get_json()["id"])
        return made[-1]

    yield make
    with app.extensions["ems"].db.transaction(world.tenants["alpha"].schema_name) as s:
        s.execute(update(Unit).where(Unit.site_id.in_(made)).values(parent_id=None))
        s.execute(delete(Unit).where(Unit.site_id.in_(made)))
        s.execute(delete(Site).where(Site.id.in_(made)))


@pytest.fixture
def site(new_site: Callable[[], int]) -> int:
    """A fresh alpha site, so each test's tree holds only its own units."""
    return new_site()


@pytest.fixture
def plant(client_for: Any, site: int) -> dict[str, Any]:
    """sub-factory > workshop > process > process unit, plus a living area outside."""
    alice, t = client_for("alice"), tag()
    sf = unit(alice, site, f"{t}-SF", "sub_factory", role="main_production", is_key_unit=True)
    ws = unit(alice, site, f"{t}-WS", "workshop", parent_id=sf["id"], sort_order=2)
    aux_role = {"role": "auxiliary_production", "sort_order": 1}
    aux = unit(alice, site, f"{t}-AUX", "workshop", parent_id=sf["id"], **aux_role)
    pr = unit(alice, site, f"{t}-PR", "process", parent_id=ws["id"], process_code="04")
    pu = unit(alice, site, f"{t}-PU", "process_unit", parent_id=pr["id"], process_code="01")
    home = unit(alice, site, f"{t}-HOME", "workshop", role="living", inside_boundary=False)
    canteen = unit(alice, site, f"{t}-CAN", "process", parent_id=home["id"])
    units = {"sf": sf, "ws": ws, "aux": aux, "pr": pr, "pu": pu, "home": home, "canteen": canteen}
    return {"site": site, "t": t, **units}


def test_tree_nests_units_with_effective_role_and_boundary(
    client_for: Any, plant: dict[str, Any]
) -> None:
    r = client_for("vera").get(f"{BASE}/sites/{plant['site']}/tree")
    assert r.status_code == 200, r.get_json()
    tree = r.get_json()
    assert tree["site_id"] == plant["site"]
    t = plant["t"]
    assert [n["code"] for n in tree["units"]] == [f"{t}-HOME", f"{t}-SF"]
    sf = find(tree["units"], f"{t}-SF")
    # Children in sort order: the auxiliary workshop (1) before the production one (2).
    assert [c["code"] for c in sf["children"]] == [f"{t}-AUX", f"{t}-WS"]
    pu = sf["children"][1]["children"][0]["children"][0]
    assert pu["code"] == f"{t}-PU" and pu["kind"] == "process_unit" and pu["children"] == []
    assert pu["process_code"] == "01"
    assert pu["role"] is None and pu["effective_role"] == "main_production"
    assert find(tree["units"], f"{t}-AUX")["effective_role"] == "auxiliary_production"
    assert sf["is_key_unit"] is True
    canteen = find(tree["units"], f"{t}-CAN")
    assert canteen["effective_role"] == "living"
    assert canteen["inside_boundary"] is True and canteen["effective_inside_boundary"] is False
    assert pu["effective_inside_boundary"] is True


def test_role_inheritance_follows_the_parent(client_for: Any, plant: dict[str, Any]) -> None:
    alice = client_for("alice")
    r = put(alice, plant["sf"]["id"], editable(plant["sf"], role="ancillary_production"))
    assert r.status_code == 200, r.get_json()
    tree = alice.get(f"{BASE}/sites/{plant['site']}/tree").get_json()
    assert find(tree["units"], plant["pu"]["code"])["effective_role"] == "ancillary_production"
    # Set on the unit itself, its own role wins over the inherited one.
    r = put(alice, plant["pr"]["id"], editable(plant["pr"], role="main_production"))
    assert r.status_code == 200, r.get_json()
    tree = alice.get(f"{BASE}/sites/{plant['site']}/tree").get_json()
    assert find(tree["units"], plant["pu"]["code"])["effective_role"] == "main_production"
    assert find(tree["units"], plant["ws"]["code"])["effective_role"] == "ancillary_production"


def test_top_level_unit_needs_a_role(client_for: Any, site: int) -> None:
    body = {"site_id": site, "code": f"{tag()}-R", "name": "r", "kind": "workshop"}
    error = assert_error(client_for("alice").post(f"{BASE}/units", json=body), 422)
    assert "role" in error["fields"], error


def test_services_walk_the_hierarchy(app: Any, world: Any, plant: dict[str, Any]) -> None:
    from ems.org import services

    db = app.extensions["ems"].db
    with db.session(world.tenants["alpha"].schema_name) as s:
        below = services.descendants(s, plant["sf"]["id"])
        assert sorted(below) == sorted(plant[k]["id"] for k in ("ws", "aux", "pr", "pu"))
        assert services.descendants(s, plant["pu"]["id"]) == []
        pu = services.access_unit(s, plant["pu"]["id"])
        assert services.effective_role(s, pu) == "main_production"
        assert [u.id for u in services.ancestry(s, pu.id)] == [
            plant[k]["id"] for k in ("pu", "pr", "ws", "sf")
        ]
        canteen = services.access_unit(s, plant["canteen"]["id"])
        assert services.effective_inside_boundary(s, canteen) is False
        assert services.effective_inside_boundary(s, pu) is True


NESTING_REFUSED = [
    ("sub_factory", "workshop"),
    ("sub_factory", "sub_factory"),
    ("workshop", "workshop"),
    ("workshop", "process"),
    ("process", "process"),
    ("process", "process_unit"),
    ("process_unit", None),
    ("process_unit", "workshop"),
    ("process_unit", "sub_factory"),
]


@pytest.mark.parametrize(("kind", "parent_kind"), NESTING_REFUSED)
def test_nesting_rules(
    client_for: Any, plant: dict[str, Any], kind: str, parent_kind: str | None
) -> None:
    parents = {"sub_factory": "sf", "workshop": "ws", "process": "pr", "process_unit": "pu"}
    parent_id = plant[parents[parent_kind]]["id"] if parent_kind else None
    body = {
        "site_id": plant["site"],
        "parent_id": parent_id,
        "code": f"{tag()}-N",
        "name": "nest",
        "kind": kind,
        "role": "main_production",
    }
    error = assert_error(client_for("alice").post(f"{BASE}/units", json=body), 422)
    assert "parent_id" in error["fields"], error


def test_cycles_are_refused(client_for: Any, plant: dict[str, Any]) -> None:
    alice = client_for("alice")
    for moved, under in (("sf", "pr"), ("ws", "pu"), ("pr", "pr")):
        r = put(alice, plant[moved]["id"], editable(plant[moved], parent_id=plant[under]["id"]))
        error = assert_error(r, 422, "invalid_input")
        assert "descendants" in error["fields"]["parent_id"][0], error


def test_parent_must_be_in_the_same_site(
    client_for: Any, plant: dict[str, Any], new_site: Callable[[], int]
) -> None:
    alice = client_for("alice")
    other = new_site()
    body = {
        "site_id": other,
        "parent_id": plant["sf"]["id"],
        "code": f"{tag()}-X",
        "name": "x",
        "kind": "workshop",
    }
    error = assert_error(alice.post(f"{BASE}/units", json=body), 422)
    assert "another site" in error["fields"]["parent_id"][0]
    # A unit with children cannot leave its site without them.
    r = put(alice, plant["sf"]["id"], editable(plant["sf"], site_id=other))
    assert "site_id" in assert_error(r, 422)["fields"]


def test_kind_change_must_keep_children_valid(client_for: Any, plant: dict[str, Any]) -> None:
    # A process with a process unit under it cannot become a workshop (even where one fits).
    body = editable(plant["pr"], kind="workshop", parent_id=plant["sf"]["id"], process_code=None)
    r = put(client_for("alice"), plant["pr"]["id"], body)
    assert "kind" in assert_error(r, 422)["fields"]


def test_moving_a_unit_moves_its_subtree(client_for: Any, plant: dict[str, Any]) -> None:
    alice = client_for("alice")
    r = put(alice, plant["pr"]["id"], editable(plant["pr"], parent_id=plant["aux"]["id"]))
    assert r.status_code == 200, r.get_json()
    tree = alice.get(f"{BASE}/sites/{plant['site']}/tree").get_json()
    aux = find(tree["units"], plant["aux"]["code"])
    assert [c["code"] for c in aux["children"]] == [plant["pr"]["code"]]
    assert aux["children"][0]["children"][0]["effective_role"] == "auxiliary_production"


def test_delete_refuses_units_with_children(client_for: Any, plant: dict[str, Any]) -> None:
    alice = client_for("alice")

    def delete(key: str) -> Any:
        url = f"{BASE}/units/{plant[key]['id']}"
        return alice.delete(url, headers={"If-Match": alice.get(url).headers["ETag"]})

    assert_error(delete("pr"), 409, "conflict")
    assert delete("pu").status_code == 204
    assert delete("pr").status_code == 204
    assert_error(alice.get(f"{BASE}/units/{plant['pu']['id']}"), 404, "not_found")


def test_delete_guards_let_other_modules_refuse(
    client_for: Any, plant: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ems.org import services

    monkeypatch.setattr(services, "_delete_guards", [lambda s, u: "2 meters refer to it"])
    alice = client_for("alice")
    url = f"{BASE}/units/{plant['pu']['id']}"
    r = alice.delete(url, headers={"If-Match": alice.get(url).headers["ETag"]})
    assert "meters" in assert_error(r, 409)["message"]


def test_a_site_with_units_cannot_be_deleted(client_for: Any, plant: dict[str, Any]) -> None:
    alice = client_for("alice")
    url = f"{BASE}/sites/{plant['site']}"
    r = alice.delete(url, headers={"If-Match": alice.get(url).headers["ETag"]})
    assert "units" in assert_error(r, 409)["message"]
    assert alice.get(url).status_code == 200  # nothing removed


def test_list_filters(client_for: Any, plant: dict[str, Any]) -> None:
    alice = client_for("alice")
    site = plant["site"]
    codes = lambda q: [u["code"] for u in alice.get(f"{BASE}/units?{q}").get_json()]  # noqa: E731
    t = plant["t"]
    assert codes(f"site_id={site}&kind=workshop") == [f"{t}-HOME", f"{t}-AUX", f"{t}-WS"]
    assert codes(f"parent_id={plant['sf']['id']}") == [f"{t}-AUX", f"{t}-WS"]
    assert len(codes(f"site_id={site}")) == 7
    assert_error(alice.get(f"{BASE}/units?kind=plant"), 422)


def test_duplicate_code_conflicts(client_for: Any, plant: dict[str, Any]) -> None:
    body = editable(plant["ws"])
    error = assert_error(client_for("alice").post(f"{BASE}/units", json=body), 409)
    assert "code" in error["fields"]


def test_put_needs_the_etag(client_for: Any, plant: dict[str, Any]) -> None:
    alice = client_for("alice")
    url = f"{BASE}/units/{plant['ws']['id']}"
    assert_error(alice.put(url, json=editable(plant["ws"])), 428)
    assert_error(alice.put(url, json=editable(plant["ws"]), headers={"If-Match": '"x"'}), 412)


BAD_FIELDS = [
    ("site_id", "one"),
    ("site_id", 0),
    ("site_id", 2**40),
    ("site_id", 999_999),  # no such site
    ("parent_id", "up"),
    ("parent_id", 999_999),  # no such unit
    ("code", ""),
    ("code", "has space"),
    ("code", "c" * 33),
    ("name", ""),
    ("name", "名" * 201),
    ("name", 123),
    ("name_en", "n" * 201),
    ("kind", "plant"),
    ("role", "office"),
    ("process_code", "04a"),
    ("process_code", "4"),
    ("process_code", "1" * 17),
    ("inside_boundary", "perhaps"),
    ("is_key_unit", "sometimes"),
    ("sort_order", -1),
    ("sort_order", "first"),
    ("colour", "red"),  # unknown field
]


@pytest.mark.parametrize(("field", "value"), BAD_FIELDS)
def test_bad_input_names_the_field(client_for: Any, site: int, field: str, value: Any) -> None:
    body = {
        "site_id": site,
        "code": f"{tag()}-B",
        "name": "bad",
        "kind": "process",
        "role": "main_production",
        field: value,
    }
    error = assert_error(client_for("alice").post(f"{BASE}/units", json=body), 422)
    assert field in error["fields"], error


@pytest.mark.parametrize("field", ["site_id", "code", "name", "kind"])
def test_required_fields(client_for: Any, site: int, field: str) -> None:
    body = {"site_id": site, "code": f"{tag()}-Q", "name": "q", "kind": "workshop"}
    body["role"] = "living"
    del body[field]
    error = assert_error(client_for("alice").post(f"{BASE}/units", json=body), 422)
    assert field in error["fields"], error


def test_process_code_only_on_processes(client_for: Any, site: int) -> None:
    body = {
        "site_id": site,
        "code": f"{tag()}-PC",
        "name": "pc",
        "kind": "workshop",
        "role": "main_production",
        "process_code": "04",
    }
    error = assert_error(client_for("alice").post(f"{BASE}/units", json=body), 422)
    assert "process_code" in error["fields"]


@pytest.mark.parametrize("user", ["vera", "oscar"])
def test_viewer_and_operator_cannot_write(
    client_for: Any, plant: dict[str, Any], user: str
) -> None:
    c = client_for(user)
    url = f"{BASE}/units/{plant['ws']['id']}"
    got = c.get(url)
    assert got.status_code == 200
    body = editable(plant["ws"], name="changed")
    assert_error(c.post(f"{BASE}/units", json={**body, "code": f"{tag()}-V"}), 403, "forbidden")
    assert_error(c.put(url, json=body, headers={"If-Match": got.headers["ETag"]}), 403)
    assert_error(c.delete(url, headers={"If-Match": got.headers["ETag"]}), 403)
    assert client_for("alice").get(url).get_json()["name"] == plant["ws"]["name"]


def test_unit_writes_are_audited(client_for: Any, plant: dict[str, Any]) -> None:
    mona = client_for("mona")
    ws = plant["ws"]
    r = put(mona, ws["id"], editable(ws, name="审计 车间"))
    assert r.status_code == 200, r.get_json()
    log = client_for("alice").get(f"{BASE}/audit?page_size=100").get_json()
    entries = [e for e in log if e["object_type"] == "units" and e["object_id"] == str(ws["id"])]
    update = next(e for e in entries if e["action"] == "update")
    assert update["before"] == {"name": ws["name"]} and update["after"] == {"name": "审计 车间"}
    assert update["actor_name"] == "mona@example.com"
    insert = next(e for e in entries if e["action"] == "insert")
    assert insert["after"]["code"] == ws["code"] and insert["after"]["kind"] == "workshop"


BETA_UNIT = {"name": "BETA 车间", "kind": "workshop", "role": "main_production"}


def _alpha_max(app: Any, world: Any, model: Any) -> int:
    from sqlalchemy import func, select

    with app.extensions["ems"].db.session(world.tenants["alpha"].schema_name) as s:
        return int(s.scalar(select(func.max(model.id))) or 0)


def test_tenants_do_not_see_each_others_units(
    app: Any, client_for: Any, world: Any, plant: dict[str, Any]
) -> None:
    from ems.org.models import Unit
    from ems.sites.models import Site

    alice, bob = client_for("alice"), client_for("bob")
    beta = "/api/v1/tenants/beta-works"
    # Ids that exist in beta only: create until beta's sequences pass alpha's.
    beta_site = 0
    while beta_site <= _alpha_max(app, world, Site):
        r = bob.post(f"{beta}/sites", json={"code": f"BS{tag()}", "name": "BETA 厂区"})
        beta_site = r.get_json()["id"]
    beta_unit = 0
    while beta_unit <= _alpha_max(app, world, Unit):
        body = {**BETA_UNIT, "site_id": beta_site, "code": f"{tag()}-BETA"}
        r = bob.post(f"{beta}/units", json=body)
        assert r.status_code == 201, r.get_json()
        beta_unit = r.get_json()["id"]
    assert "BETA" not in alice.get(f"{BASE}/units?page_size=100").get_data(as_text=True)
    assert plant["t"] not in bob.get(f"{beta}/units?page_size=100").get_data(as_text=True)
    assert_error(alice.get(f"{BASE}/units/{beta_unit}"), 404, "not_found")
    assert_error(alice.get(f"{BASE}/sites/{beta_site}/tree"), 404, "not_found")
    assert_error(alice.get(f"{beta}/units/{beta_unit}"), 404, "not_found")
    # Alpha's units can neither sit in beta's sites nor under beta's units.
    body = {"code": f"{tag()}-I", "name": "i", "kind": "process", "role": "living"}
    bad_site = alice.post(f"{BASE}/units", json={**body, "site_id": beta_site})
    assert "site_id" in assert_error(bad_site, 422)["fields"]
    bad_parent = {**body, "site_id": plant["site"], "parent_id": beta_unit}
    error = assert_error(alice.post(f"{BASE}/units", json=bad_parent), 422)
    assert error["fields"]["parent_id"] == ["no such unit"]
    # Colliding ids resolve to each tenant's own row.
    own = plant["sf"]["id"]
    seen = bob.get(f"{beta}/units/{own}")
    assert seen.status_code == 404 or "BETA" in seen.get_json()["name"]
