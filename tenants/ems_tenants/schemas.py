"""Request and response schemas of the control-plane API."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from ems_tenants.models import Role

STATUSES = ["pending", "active", "suspended", "rejected", "deleted"]


class PlanSchema(ma.Schema):
    """A subscription plan and its limits."""

    code = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    max_gateways = ma.fields.Integer(dump_only=True)
    max_points = ma.fields.Integer(dump_only=True)
    api_requests_per_minute = ma.fields.Integer(dump_only=True)
    retention_days = ma.fields.Integer(dump_only=True)
    storage_bytes = ma.fields.Integer(dump_only=True)


class TenantInputSchema(ma.Schema):
    """The fields a tenant is created from."""

    slug = ma.fields.String(required=True, validate=validate.Length(min=4, max=40))
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    credit_code = ma.fields.String(required=True, validate=validate.Length(equal=18))
    region_code = ma.fields.String(required=True, validate=validate.Length(equal=6))
    industry_code = ma.fields.String(required=True, validate=validate.Length(min=1, max=5))
    timezone = ma.fields.String(load_default="Asia/Shanghai", validate=validate.Length(max=64))
    plan = ma.fields.String(load_default="trial", validate=validate.Length(max=32))
    contact_name = ma.fields.String(validate=validate.Length(max=100))
    contact_phone = ma.fields.String(validate=validate.Length(max=32))
    contact_email = ma.fields.Email(validate=validate.Length(max=254))


class TenantSchema(ma.Schema):
    """A tenant as the control plane shows it."""

    slug = ma.fields.String()
    name = ma.fields.String()
    credit_code = ma.fields.String()
    region_code = ma.fields.String()
    industry_code = ma.fields.String()
    timezone = ma.fields.String()
    plan = ma.fields.Pluck(PlanSchema, "code")
    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    contact_name = ma.fields.String(allow_none=True)
    contact_phone = ma.fields.String(allow_none=True)
    contact_email = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    approved_at = ma.fields.AwareDateTime(allow_none=True)
    suspended_at = ma.fields.AwareDateTime(allow_none=True)


class TenantQuerySchema(ma.Schema):
    """Filters of the tenant list."""

    status = ma.fields.String(validate=validate.OneOf(STATUSES))
    region_code = ma.fields.String(validate=validate.Regexp(r"^\d{6}$"))


class PlanChangeSchema(ma.Schema):
    """A plan change."""

    plan = ma.fields.String(required=True, validate=validate.Length(min=1, max=32))


class AdminSchema(ma.Schema):
    """The first administrator of a signed-up tenant."""

    email = ma.fields.Email(required=True, validate=validate.Length(max=254))
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=100))
    password = ma.fields.String(
        required=True, load_only=True, validate=validate.Length(min=10, max=200)
    )


class SignupSchema(ma.Schema):
    """A self-service application for a subscription."""

    tenant = ma.fields.Nested(TenantInputSchema, required=True)
    admin = ma.fields.Nested(AdminSchema, required=True)


class SignupResultSchema(ma.Schema):
    """What an applicant is told."""

    slug = ma.fields.String()
    status = ma.fields.String()
    message = ma.fields.String()


class DeleteSchema(ma.Schema):
    """Explicit confirmation of a deletion."""

    confirm = ma.fields.String(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "the tenant's slug, repeated"},
    )


class ExportSchema(ma.Schema):
    """A recorded export."""

    id = ma.fields.Integer()
    sha256 = ma.fields.String()
    size_bytes = ma.fields.Integer()
    row_counts = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    created_at = ma.fields.AwareDateTime()


class UserInputSchema(ma.Schema):
    """A portal user created by a platform administrator."""

    email = ma.fields.Email(required=True, validate=validate.Length(max=254))
    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=100))
    password = ma.fields.String(
        required=True, load_only=True, validate=validate.Length(min=10, max=200)
    )
    is_platform_admin = ma.fields.Boolean(load_default=False)
    regulator_region = ma.fields.String(validate=validate.Regexp(r"^\d{6}$"))
    provider_org_id = ma.fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class UserSchema(ma.Schema):
    """A portal user."""

    id = ma.fields.Integer()
    email = ma.fields.String()
    name = ma.fields.String()
    is_active = ma.fields.Boolean()
    is_platform_admin = ma.fields.Boolean()
    regulator_region = ma.fields.String(allow_none=True)
    provider_org_id = ma.fields.Integer(allow_none=True)


class ProviderInputSchema(ma.Schema):
    """A service-provider organisation."""

    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))
    credit_code = ma.fields.String(validate=validate.Length(equal=18))


class ProviderSchema(ma.Schema):
    """A service-provider organisation."""

    id = ma.fields.Integer()
    name = ma.fields.String()
    credit_code = ma.fields.String(allow_none=True)


class MemberInputSchema(ma.Schema):
    """A membership to grant."""

    email = ma.fields.Email(required=True, validate=validate.Length(max=254))
    role = ma.fields.String(required=True, validate=validate.OneOf([r.value for r in Role]))


class MemberUpdateSchema(ma.Schema):
    """A role change."""

    role = ma.fields.String(required=True, validate=validate.OneOf([r.value for r in Role]))


class MemberSchema(ma.Schema):
    """A user's membership in the tenant."""

    id = ma.fields.Integer()
    email = ma.fields.Function(lambda m: m.user.email)
    name = ma.fields.Function(lambda m: m.user.name)
    role = ma.fields.String()
    created_at = ma.fields.AwareDateTime()


class ClientInputSchema(ma.Schema):
    """An integration to register."""

    name = ma.fields.String(required=True, validate=validate.Length(min=1, max=100))
    scopes = ma.fields.List(
        ma.fields.String(validate=validate.Length(max=32)),
        required=True,
        validate=validate.Length(min=1, max=10),
    )


class ClientSchema(ma.Schema):
    """A registered integration (its secret is shown only when created)."""

    client_id = ma.fields.String()
    name = ma.fields.String()
    scopes = ma.fields.Function(lambda c: c.scopes.split())
    created_at = ma.fields.AwareDateTime()


class IssuedClientSchema(ClientSchema):
    """A new integration with its secret, shown once."""

    client_secret = ma.fields.String()


class UsageSchema(ma.Schema):
    """The tenant's plan and measured use."""

    plan = ma.fields.Nested(PlanSchema)
    storage_bytes = ma.fields.Integer()
    measured_at = ma.fields.AwareDateTime(allow_none=True)
