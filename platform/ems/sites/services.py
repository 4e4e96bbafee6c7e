"""Sites of a tenant. The session passed in is bound to the tenant; no commit here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.errors import Conflict, NotFound
from ems.sites.models import Site
from ems_tenants import validation

FIELDS = ("code", "name", "address", "region_code", "timezone")


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("timezone"):
        validation.timezone(data["timezone"])
    if data.get("region_code"):
        validation.region_code(data["region_code"])
    return {k: data.get(k) for k in FIELDS}


def _unique_code(session: Session, code: str, own_id: int | None = None) -> None:
    other = session.scalar(select(Site.id).where(Site.code == code))
    if other is not None and other != own_id:
        raise Conflict("a site with this code exists", fields={"code": ["already in use"]})


def access_site(session: Session, site_id: int) -> Site:
    """A site of the session's tenant (another tenant's ids are simply not in this schema)."""
    site = session.get(Site, site_id)
    if site is None:
        raise NotFound("site not found")
    return site


def create_site(session: Session, data: dict[str, Any]) -> Site:
    """Add a site."""
    values = _clean(data)
    _unique_code(session, values["code"])
    site = Site(**values)
    session.add(site)
    session.flush()
    return site


def update_site(session: Session, site: Site, data: dict[str, Any]) -> Site:
    """Replace a site's editable fields."""
    values = _clean(data)
    _unique_code(session, values["code"], site.id)
    for key, value in values.items():
        setattr(site, key, value)
    session.flush()
    return site
