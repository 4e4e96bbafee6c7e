"""Code mapping API: ``/api/v1/tenants/<slug>/upload/...codes`` and ``.../coverage``.

Mapped codes are edited like the other ledgers (ETag / If-Match); the coverage report
is computed on each read.
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from sqlalchemy import select

from ems.upload import coverage, mapping
from ems.upload.codes_schemas import CodeInputSchema, CodeSchema
from ems.upload.models import UploadCode
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.tenancy import tenant_blueprint

blp = tenant_blueprint(
    "upload_codes",
    __name__,
    description="Combined codes (组合编码) of the upload and what they cover",
)


@blp.route("/upload/registrations/<int:registration_id>/codes")
class Codes(MethodView):
    """The figures mapped to combined codes on one platform."""

    @blp.response(200, CodeSchema(many=True))
    @blp.paginate()
    def get(self, registration_id: int, pagination_parameters: Any) -> list[UploadCode]:
        """List a registration's mapped codes."""
        registration = mapping.access_registration(db(), registration_id)
        stmt = (
            select(UploadCode)
            .where(UploadCode.registration_id == registration.id)
            .order_by(UploadCode.code)
        )
        return paginate(db(), stmt, pagination_parameters)

    @blp.arguments(CodeInputSchema)
    @blp.response(201, CodeSchema)
    def post(self, data: dict[str, Any], registration_id: int) -> UploadCode:
        """Map a figure to a code (checked against the current dictionary, if any)."""
        registration = mapping.access_registration(db(), registration_id)
        return mapping.create_code(db(), registration, data)


@blp.route("/upload/codes/<int:code_id>")
class CodeById(MethodView):
    """One mapped code."""

    @blp.etag
    @blp.response(200, CodeSchema)
    def get(self, code_id: int) -> UploadCode:
        """Show a mapped code (with its ETag)."""
        return mapping.access_code(db(), code_id)

    @blp.etag
    @blp.arguments(CodeInputSchema)
    @blp.response(200, CodeSchema)
    def put(self, data: dict[str, Any], code_id: int) -> UploadCode:
        """Replace a mapped code (send its ETag in If-Match)."""
        row = mapping.access_code(db(), code_id)
        blp.check_etag(row, CodeSchema)
        return mapping.update_code(db(), row, data)

    @blp.etag
    @blp.response(204)
    def delete(self, code_id: int) -> None:
        """Remove a mapped code; its queued items stay (send its ETag in If-Match)."""
        row = mapping.access_code(db(), code_id)
        blp.check_etag(row, CodeSchema)
        mapping.delete_code(db(), row)


@blp.route("/upload/registrations/<int:registration_id>/coverage")
@blp.response(200)
def code_coverage(registration_id: int) -> dict[str, Any]:
    """What the platform expects, what is mapped, and each code's problems."""
    registration = mapping.access_registration(db(), registration_id)
    return coverage.report(db(), registration)
