"""Organisation units of a tenant: placement rules, inheritance, the tree.

The session passed in is bound to the tenant; nothing here commits (the request
or the actor boundary does). Inherited properties are computed, not stored:
``role`` comes from the nearest unit up the chain that sets one, and a unit is
inside the enterprise boundary only if it and all its ancestors are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session, aliased

from ems.errors import Conflict, InvalidInput, NotFound
from ems.org.models import Unit, UnitKind
from ems.sites.models import Site
from ems.sites.services import access_site

FIELDS = (
    "site_id",
    "parent_id",
    "code",
    "name",
    "name_en",
    "kind",
    "role",
    "process_code",
    "inside_boundary",
    "is_key_unit",
    "sort_order",
)

# Where each kind may sit (None: directly under the site). The kinds only ever
# nest downwards, so these rules alone keep the hierarchy at most four deep.
ALLOWED_PARENTS: Mapping[UnitKind, frozenset[UnitKind | None]] = {
    UnitKind.SUB_FACTORY: frozenset({None}),
    UnitKind.WORKSHOP: frozenset({None, UnitKind.SUB_FACTORY}),
    UnitKind.PROCESS: frozenset({None, UnitKind.SUB_FACTORY, UnitKind.WORKSHOP}),
    UnitKind.PROCESS_UNIT: frozenset({UnitKind.PROCESS}),
}
PLACEMENT = {
    UnitKind.SUB_FACTORY: "a sub-factory sits directly under the site",
    UnitKind.WORKSHOP: "a workshop sits under a sub-factory or directly under the site",
    UnitKind.PROCESS: "a process sits under a workshop, a sub-factory or directly under the site",
    UnitKind.PROCESS_UNIT: "a process unit sits under a process",
}
CODED_KINDS = frozenset({UnitKind.PROCESS, UnitKind.PROCESS_UNIT})

DeleteGuard = Callable[[Session, Unit], str | None]
_delete_guards: list[DeleteGuard] = []
SiteDeleteGuard = Callable[[Session, Site], str | None]
_site_delete_guards: list[SiteDeleteGuard] = []


def register_delete_guard(guard: DeleteGuard) -> DeleteGuard:
    """Let another module refuse a unit's deletion (meters, equipment referring to it).

    ``guard(session, unit)`` returns why the unit cannot go, or None. Usable as a
    decorator at import time of the module that owns the reference.
    """
    _delete_guards.append(guard)
    return guard


def register_site_delete_guard(guard: SiteDeleteGuard) -> SiteDeleteGuard:
    """Let another module refuse a site's deletion (meters placed on the site itself).

    Checked by :func:`ensure_site_has_no_units`, which the sites API calls before a delete.
    """
    _site_delete_guards.append(guard)
    return guard


def access_unit(session: Session, unit_id: int) -> Unit:
    """A unit of the session's tenant (another tenant's ids are simply not in this schema)."""
    unit = session.get(Unit, unit_id)
    if unit is None:
        raise NotFound("unit not found")
    return unit


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, fields={field: [message]})


def _unique_code(session: Session, code: str, own_id: int | None) -> None:
    other = session.scalar(select(Unit.id).where(Unit.code == code))
    if other is not None and other != own_id:
        raise Conflict("a unit with this code exists", fields={"code": ["already in use"]})


def _check_parent(session: Session, values: dict[str, Any], unit: Unit | None) -> None:
    kind = UnitKind(values["kind"])
    parent: Unit | None = None
    if values["parent_id"] is not None:
        parent = session.get(Unit, values["parent_id"])
        if parent is None:
            raise _invalid("parent_id", "no such unit")
        if unit is not None and parent.id in (unit.id, *descendants(session, unit.id)):
            raise _invalid("parent_id", "a unit cannot be placed under itself or its descendants")
        if parent.site_id != values["site_id"]:
            raise _invalid("parent_id", "the parent unit belongs to another site")
    if (UnitKind(parent.kind) if parent else None) not in ALLOWED_PARENTS[kind]:
        raise _invalid("parent_id", PLACEMENT[kind])


def _check_children(session: Session, values: dict[str, Any], unit: Unit) -> None:
    child_kinds = set(session.scalars(select(Unit.kind).where(Unit.parent_id == unit.id)))
    if not child_kinds:
        return
    if values["site_id"] != unit.site_id:
        raise _invalid("site_id", "a unit with child units cannot move to another site")
    for child_kind in sorted(child_kinds):
        if values["kind"] not in ALLOWED_PARENTS[UnitKind(child_kind)]:
            raise _invalid("kind", f"it has child units and {PLACEMENT[UnitKind(child_kind)]}")


def _clean(session: Session, data: dict[str, Any], unit: Unit | None = None) -> dict[str, Any]:
    values: dict[str, Any] = {k: data.get(k) for k in FIELDS}
    if session.get(Site, values["site_id"]) is None:
        raise _invalid("site_id", "no such site")
    _check_parent(session, values, unit)
    if unit is not None:
        _check_children(session, values, unit)
    if values["parent_id"] is None and values["role"] is None:
        raise _invalid("role", "required directly under the site (units below inherit it)")
    if values["process_code"] is not None and values["kind"] not in CODED_KINDS:
        raise _invalid("process_code", "only processes and process units carry a process code")
    _unique_code(session, values["code"], unit.id if unit else None)
    return values


def create_unit(session: Session, data: dict[str, Any]) -> Unit:
    """Add a unit."""
    unit = Unit(**_clean(session, data))
    session.add(unit)
    session.flush()
    return unit


def update_unit(session: Session, unit: Unit, data: dict[str, Any]) -> Unit:
    """Replace a unit's editable fields (moving it moves everything under it)."""
    for key, value in _clean(session, data, unit).items():
        setattr(unit, key, value)
    session.flush()
    return unit


def delete_unit(session: Session, unit: Unit) -> None:
    """Remove a unit that nothing refers to: no child units, nothing a guard reports."""
    has_children = session.scalar(select(Unit.id).where(Unit.parent_id == unit.id).limit(1))
    if has_children is not None:
        raise Conflict("the unit has child units; move or remove them first")
    for guard in _delete_guards:
        reason = guard(session, unit)
        if reason:
            raise Conflict(reason)
    session.delete(unit)
    session.flush()


def ensure_site_has_no_units(session: Session, site: Site) -> None:
    """Refuse to remove a site that still has units, or anything a site guard reports
    (for the sites module's delete)."""
    count = session.scalar(select(func.count()).where(Unit.site_id == site.id))
    if count:
        raise Conflict(f"the site has {count} units; remove them first")
    for guard in _site_delete_guards:
        reason = guard(session, site)
        if reason:
            raise Conflict(reason)


def descendants(session: Session, unit_id: int) -> list[int]:
    """Ids of every unit below ``unit_id`` (not itself), by a recursive CTE."""
    below = select(Unit.id).where(Unit.parent_id == unit_id).cte("below", recursive=True)
    child = aliased(Unit)
    below = below.union_all(select(child.id).join(below, child.parent_id == below.c.id))
    return list(session.scalars(select(below.c.id)))


def ancestry(session: Session, unit_id: int) -> list[Unit]:
    """The unit and its ancestors, nearest first."""
    chain = (
        select(Unit.id, Unit.parent_id, literal(0).label("depth"))
        .where(Unit.id == unit_id)
        .cte("chain", recursive=True)
    )
    up = aliased(Unit)
    chain = chain.union_all(
        select(up.id, up.parent_id, chain.c.depth + 1).join(chain, up.id == chain.c.parent_id)
    )
    return list(
        session.scalars(select(Unit).join(chain, Unit.id == chain.c.id).order_by(chain.c.depth))
    )


def effective_role(session: Session, unit: Unit) -> str | None:
    """The unit's role, or the nearest ancestor's when it sets none."""
    return next((u.role for u in ancestry(session, unit.id) if u.role is not None), None)


def effective_inside_boundary(session: Session, unit: Unit) -> bool:
    """Whether the unit counts in the enterprise's figures (it and all ancestors inside)."""
    return all(u.inside_boundary for u in ancestry(session, unit.id))


def effective_all(session: Session) -> dict[int, tuple[str | None, bool]]:
    """Every unit's effective role and boundary, from one read of the tenant's units
    (what :func:`effective_role` and :func:`effective_inside_boundary` give for one)."""
    units = {u.id: u for u in session.scalars(select(Unit))}
    out: dict[int, tuple[str | None, bool]] = {}

    def resolve(unit_id: int) -> tuple[str | None, bool]:
        if unit_id not in out:
            unit = units[unit_id]
            role, inside = (None, True) if unit.parent_id is None else resolve(unit.parent_id)
            out[unit_id] = (unit.role or role, inside and unit.inside_boundary)
        return out[unit_id]

    for unit_id in units:
        resolve(unit_id)  # the tree is at most four deep
    return out


def _node(
    unit: Unit, children: Mapping[int | None, list[Unit]], role: str | None, inside: bool
) -> dict[str, Any]:
    role = unit.role or role
    inside = inside and unit.inside_boundary
    node = {
        field: getattr(unit, field) for field in FIELDS if field not in ("site_id", "parent_id")
    }
    node.update(id=unit.id, effective_role=role, effective_inside_boundary=inside)
    node["children"] = [_node(c, children, role, inside) for c in children.get(unit.id, [])]
    return node


def tree(session: Session, site_id: int) -> dict[str, Any]:
    """The site's units nested under their parents, with effective role and boundary."""
    site = access_site(session, site_id)
    units = session.scalars(
        select(Unit).where(Unit.site_id == site.id).order_by(Unit.sort_order, Unit.code)
    )
    children: dict[int | None, list[Unit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)
    roots = [_node(u, children, None, True) for u in children.get(None, [])]
    return {"site_id": site.id, "site_code": site.code, "site_name": site.name, "units": roots}
