"""Demo data for the one-machine run: idempotent, so the run command can repeat it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ems.config import Settings
from ems.db import Database
from ems_tenants import members, services
from ems_tenants.models import Membership, ProviderOrganisation, Tenant, User

ADMIN_EMAIL = "admin@demo.ems.local"
MANAGER_EMAIL = "manager@demo.ems.local"
# The other roles, so that every page set of the portal can be opened on the demo.
OWNER_EMAIL = "owner@demo.ems.local"  # tenant admin of the demo tenant
VIEWER_EMAIL = "viewer@demo.ems.local"
ENGINEER_EMAIL = "engineer@demo.ems.local"  # a service provider's engineer
REGULATOR_EMAIL = "regulator@demo.ems.local"  # Yunnan (530000)
DEMO_PROVIDER = "滇能运维服务有限公司"
DEMO_SLUG = "demo-steel"


def seed(session: Session, db: Database, settings: Settings, password: str) -> list[str]:
    """Create what is missing of the demo; returns lines to print."""
    if session.scalar(select(User).where(User.email == ADMIN_EMAIL)) is None:
        members.create_user(
            session, email=ADMIN_EMAIL, name="平台管理员", password=password, is_platform_admin=True
        )
    tenant = session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
    if tenant is None:
        tenant = services.create_tenant(
            session,
            services.TenantDraft(
                slug=DEMO_SLUG,
                name="云南示范钢铁有限公司",
                credit_code="91530100MA6K1X2Y3W",
                region_code="530100",
                industry_code="C3110",
                plan="standard",
            ),
        )
    services.provision(session, db.engine, settings.migrations_dir, tenant)
    manager = session.scalar(select(User).where(User.email == MANAGER_EMAIL))
    if manager is None:
        manager = members.create_user(
            session, email=MANAGER_EMAIL, name="能源管理员", password=password
        )
    _member(session, tenant, manager, "energy_manager")
    _seed_roles(session, tenant, password)
    return [
        f"platform admin: {ADMIN_EMAIL} / {password}",
        f"energy manager: {MANAGER_EMAIL} / {password} (tenant {DEMO_SLUG})",
        f"tenant admin: {OWNER_EMAIL} / {password}",
        f"viewer: {VIEWER_EMAIL} / {password}",
        f"provider engineer: {ENGINEER_EMAIL} / {password}",
        f"regulator (Yunnan 530000): {REGULATOR_EMAIL} / {password}",
    ]


def _member(session: Session, tenant: Tenant, user: User, role: str) -> None:
    has_membership = session.scalar(
        select(Membership.id).where(
            Membership.user_id == user.id, Membership.tenant_id == tenant.id
        )
    )
    if has_membership is None:
        members.add_member(session, tenant, user.email, role)


def _user(session: Session, email: str, name: str, password: str, **extra: Any) -> User:
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        user = members.create_user(session, email=email, name=name, password=password, **extra)
    return user


def _seed_roles(session: Session, tenant: Tenant, password: str) -> None:
    _member(session, tenant, _user(session, OWNER_EMAIL, "企业管理员", password), "tenant_admin")
    _member(session, tenant, _user(session, VIEWER_EMAIL, "只读用户", password), "viewer")
    provider = session.scalar(
        select(ProviderOrganisation).where(ProviderOrganisation.name == DEMO_PROVIDER)
    )
    if provider is None:
        provider = members.create_provider(session, DEMO_PROVIDER, None)
    engineer = _user(session, ENGINEER_EMAIL, "运维工程师", password, provider_org_id=provider.id)
    _member(session, tenant, engineer, "provider_engineer")
    _user(session, REGULATOR_EMAIL, "云南省节能监察", password, regulator_region="530000")


# The demo's mapping to the simulated Yunnan-style platform's codes (its dictionaries are
# simulated too: ems_provsim/data). A real enterprise maps its own figures to the codes
# its province publishes, through /upload/registrations/<id>/codes.
DEMO_CODES = (
    # code, name, source, energy type, real time
    ("0000000002120002", "全厂电力消费量", "category", "electricity", True),
    ("0000000001000002", "全厂综合能源消费量", "comprehensive", None, False),
)
DEMO_PIN = "204816"


def seed_upload(
    session: Session,
    db: Database,
    settings: Settings,
    url: str,
    pin: str = DEMO_PIN,
    slug: str = DEMO_SLUG,
) -> list[str]:
    """Register a demo tenant on the simulated provincial platform at ``url``; map its codes."""
    from ems.context import TenantRef, current_tenant
    from ems.upload import crypto, registration
    from ems.upload.models import RegistrationStatus, UploadCode, UploadRegistration

    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None or tenant.schema_name is None:
        return [f"tenant {slug} missing: run `ems demo seed` first"]
    token = current_tenant.set(
        TenantRef(id=tenant.id, slug=tenant.slug, schema_name=tenant.schema_name)
    )
    try:
        with db.transaction(tenant.schema_name) as ts:
            reg = ts.scalar(
                select(UploadRegistration).where(UploadRegistration.profile == "yunnan")
            )
            if reg is None:
                reg = UploadRegistration(
                    profile="yunnan",
                    base_url=url,
                    enterprise_code=tenant.credit_code,
                    region_code=tenant.region_code,
                    enabled=True,
                    realtime_minutes=15,
                    status=RegistrationStatus.NEW,
                    urls={},
                    consecutive_failures=0,
                )
                ts.add(reg)
            reg.base_url = url
            reg.pin = crypto.seal(settings.secret_key, pin.encode("ascii"))
            ts.flush()
            build = registration.client_factory(settings.secret_key)
            # Every run: the simulated platform keeps its accounts in memory only.
            with build(reg) as client:
                answer = registration.register(ts, reg, client, settings.secret_key)
            if not answer.ok:
                return [f"provincial platform at {url}: registration refused: {answer.message}"]
            with build(reg) as client:
                registration.check_version(ts, reg, client, settings.secret_key)
            known = set(
                ts.scalars(select(UploadCode.code).where(UploadCode.registration_id == reg.id))
            )
            for code, name, source, energy_type, realtime in DEMO_CODES:
                if code not in known:
                    ts.add(
                        UploadCode(
                            registration_id=reg.id,
                            code=code,
                            name=name,
                            scope=1,
                            source=source,
                            energy_type=energy_type,
                            input_type=2,
                            realtime=realtime,
                            day=True,
                            month=True,
                            year=True,
                            enabled=True,
                        )
                    )
            return [
                f"provincial upload: {tenant.slug} registered on the simulated Yunnan-style "
                f"platform at {url} (device {reg.device_id}, dictionaries v{reg.dic_version})"
            ]
    finally:
        current_tenant.reset(token)
