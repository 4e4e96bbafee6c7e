"""Personnel API: ``/api/v1/tenants/<slug>/personnel`` (table A.2) and each person's documents.

Writing the ledger and its documents is ledger work (``config:write``); reading,
downloads included, needs ``tenant:read``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response
from flask.views import MethodView
from sqlalchemy import select

from ems.auth.permissions import Permission
from ems.documents import files
from ems.documents.store import DocumentStore, store_for
from ems.documents.web import BINARY_RESPONSE, accept_uploads, file_response, read_file
from ems.personnel import ledger, services
from ems.personnel.models import Person, PersonDocument
from ems.personnel.schemas import (
    DocumentInputSchema,
    DocumentQuerySchema,
    DocumentSchema,
    ExportQuerySchema,
    ImportFileSchema,
    ImportResultSchema,
    PersonInputSchema,
    PersonQuerySchema,
    PersonSchema,
)
from ems.web.pagination import paginate
from ems.web.pipeline import db
from ems.web.state import state
from ems.web.tenancy import requires, tenant_blueprint

blp = tenant_blueprint(
    "personnel", __name__, description="Metering personnel (table A.2) and their documents"
)
accept_uploads(blp, [("personnel.PersonDocuments", "POST"), ("personnel.import_personnel", "POST")])


def _store() -> DocumentStore:
    return store_for(state().settings)


def _person_first(view: Callable[..., Any]) -> Callable[..., Any]:
    """Look the person up before the body is parsed, so that another tenant's person
    answers 404 whatever was sent, exactly like a missing one."""

    @functools.wraps(view)
    def check(self: Any, *args: Any, **kwargs: Any) -> Any:
        services.access_person(db(), kwargs["person_id"])
        return view(self, *args, **kwargs)

    return check


@blp.route("/personnel")
class People(MethodView):
    """The metering personnel ledger."""

    @blp.arguments(PersonQuerySchema, location="query")
    @blp.response(200, PersonSchema(many=True))
    @blp.paginate()
    def get(self, query: dict[str, Any], pagination_parameters: Any) -> list[Person]:
        """List people (filter by name or certificate, department, qualified)."""
        return paginate(db(), services.list_query(query), pagination_parameters)

    @requires(Permission.CONFIG_WRITE)
    @blp.arguments(PersonInputSchema)
    @blp.response(201, PersonSchema)
    def post(self, data: dict[str, Any]) -> Person:
        """Add a person."""
        return services.create_person(db(), data)


@blp.route("/personnel/<int:person_id>")
class PersonById(MethodView):
    """One person."""

    @blp.etag
    @blp.response(200, PersonSchema)
    def get(self, person_id: int) -> Person:
        """Show a person (with its ETag)."""
        return services.access_person(db(), person_id)

    @requires(Permission.CONFIG_WRITE)
    @blp.etag
    @blp.arguments(PersonInputSchema)
    @blp.response(200, PersonSchema)
    def put(self, data: dict[str, Any], person_id: int) -> Person:
        """Replace a person's columns (send its ETag in If-Match)."""
        person = services.access_person(db(), person_id)
        blp.check_etag(person, PersonSchema)
        return services.update_person(db(), person, data)

    @requires(Permission.CONFIG_WRITE)
    @blp.etag
    @blp.response(204)
    def delete(self, person_id: int) -> None:
        """Remove a person and their documents (send its ETag in If-Match)."""
        person = services.access_person(db(), person_id)
        blp.check_etag(person, PersonSchema)
        services.delete_person(db(), _store(), person)


@blp.route("/personnel/export")
@blp.arguments(ExportQuerySchema, location="query")
@blp.response(200, description="table A.2 with the standard's headings")
@blp.doc(responses=BINARY_RESPONSE)
def export_personnel(query: dict[str, Any]) -> Response:
    """Export the ledger as CSV or XLSX (table A.2 headings)."""
    data, content_type = ledger.export(db(), query["format"])
    return file_response(data, content_type, f"计量人员-A2.{query['format']}")


@blp.route("/personnel/import", methods=["POST"])
@requires(Permission.CONFIG_WRITE)
@blp.arguments(ImportFileSchema, location="files")
@blp.response(200, ImportResultSchema)
def import_personnel(data: dict[str, Any]) -> ledger.ImportResult:
    """Import an A.2 file: every row is created or updated, or (on any bad cell) none."""
    filename, content = read_file(data["file"])
    return ledger.import_file(db(), content, filename)


@blp.route("/personnel/<int:person_id>/documents")
class PersonDocuments(MethodView):
    """A person's file and qualification documents."""

    @blp.arguments(DocumentQuerySchema, location="query")
    @blp.response(200, DocumentSchema(many=True))
    def get(self, query: dict[str, Any], person_id: int) -> list[PersonDocument]:
        """List a person's documents."""
        person = services.access_person(db(), person_id)
        stmt = select(PersonDocument).where(PersonDocument.person_id == person.id)
        if "kind" in query:
            stmt = stmt.where(PersonDocument.kind == query["kind"])
        return list(db().scalars(stmt.order_by(PersonDocument.id)))

    @_person_first
    @requires(Permission.CONFIG_WRITE)
    @blp.arguments(DocumentInputSchema, location="form", content_type="multipart/form-data")
    @blp.response(201, DocumentSchema)
    def post(self, data: dict[str, Any], person_id: int) -> PersonDocument:
        """Upload a document (multipart: file, kind, title, certificate number, dates)."""
        person = services.access_person(db(), person_id)
        filename, content = read_file(data["file"])
        upload = files.check_upload(filename, content)
        return services.add_document(db(), _store(), person, upload, data)


@blp.route("/personnel/<int:person_id>/documents/<int:document_id>")
class PersonDocumentById(MethodView):
    """One document's record."""

    @blp.response(200, DocumentSchema)
    def get(self, person_id: int, document_id: int) -> PersonDocument:
        """Show a document's record."""
        person = services.access_person(db(), person_id)
        return services.access_document(db(), person, document_id)

    @requires(Permission.CONFIG_WRITE)
    @blp.response(204)
    def delete(self, person_id: int, document_id: int) -> None:
        """Remove a document (its file goes once the removal commits)."""
        person = services.access_person(db(), person_id)
        document = services.access_document(db(), person, document_id)
        services.delete_document(db(), _store(), document)


@blp.route("/personnel/<int:person_id>/documents/<int:document_id>/content")
@blp.response(200, description="the file as uploaded")
@blp.doc(responses=BINARY_RESPONSE)
def document_content(person_id: int, document_id: int) -> Response:
    """Download a document (as an attachment, checked against its SHA-256)."""
    person = services.access_person(db(), person_id)
    document = services.access_document(db(), person, document_id)
    data = services.document_content(_store(), document)
    return file_response(data, document.content_type, document.filename)
