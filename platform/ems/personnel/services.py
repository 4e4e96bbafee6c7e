"""The metering personnel ledger: people and their documents.

The session is bound to the tenant; nothing here commits (the request is the
boundary). A document's bytes go to the document store before its row is
flushed and are removed again if the transaction does not commit
(:mod:`ems.documents.files`).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from ems.context import current_actor, current_tenant
from ems.documents import files
from ems.documents.files import Upload
from ems.documents.store import DocumentError, DocumentStore, tenant_key
from ems.errors import Conflict, InvalidInput, NotFound
from ems.personnel.models import Person, PersonDocument

FIELDS = (
    "name",
    "sex",
    "department",
    "position",
    "professional_title",
    "education",
    "school",
    "qualification",
    "certificate_number",
    "training",
    "training_body",
    "phone",
    "email",
    "remarks",
)
DOCUMENT_FIELDS = ("kind", "title", "certificate_number", "issued", "expires")


def access_person(session: Session, person_id: int) -> Person:
    """A person of the session's tenant (another tenant's ids are not in this schema)."""
    person = session.get(Person, person_id)
    if person is None:
        raise NotFound("person not found")
    return person


def access_document(session: Session, person: Person, document_id: int) -> PersonDocument:
    """A document of ``person``; any other id answers as missing."""
    document = session.get(PersonDocument, document_id)
    if document is None or document.person_id != person.id:
        raise NotFound("document not found")
    return document


def list_query(query: Mapping[str, Any]) -> Select[Person]:
    """The ledger, filtered, in the order it was entered (the order of an export)."""
    stmt = select(Person).order_by(Person.id)
    if query.get("q"):
        pattern = "%" + query["q"].replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        pattern += "%"
        stmt = stmt.where(or_(Person.name.ilike(pattern), Person.certificate_number.ilike(pattern)))
    if query.get("department"):
        stmt = stmt.where(Person.department == query["department"])
    if "qualified" in query:
        has = Person.certificate_number.is_not(None)
        stmt = stmt.where(has if query["qualified"] else ~has)
    return stmt


def _unique_certificate(session: Session, number: str | None, own_id: int | None) -> None:
    if number is None:
        return
    other = session.scalar(select(Person.id).where(Person.certificate_number == number))
    if other is not None and other != own_id:
        raise Conflict(
            "another person holds this certificate number",
            fields={"certificate_number": ["already in use"]},
        )


def create_person(session: Session, data: Mapping[str, Any]) -> Person:
    """Add a person to the ledger."""
    values = {k: data.get(k) for k in FIELDS}
    _unique_certificate(session, values["certificate_number"], None)
    person = Person(**values)
    session.add(person)
    session.flush()
    return person


def update_person(session: Session, person: Person, data: Mapping[str, Any]) -> Person:
    """Replace a person's columns."""
    values = {k: data.get(k) for k in FIELDS}
    _unique_certificate(session, values["certificate_number"], person.id)
    for key, value in values.items():
        setattr(person, key, value)
    session.flush()
    return person


def delete_person(session: Session, store: DocumentStore, person: Person) -> None:
    """Remove a person with their documents (the files go once the deletion commits)."""
    for document in session.scalars(
        select(PersonDocument).where(PersonDocument.person_id == person.id)
    ):
        delete_document(session, store, document)
    session.delete(person)
    session.flush()


def _schema_name() -> str:
    tenant = current_tenant.get()
    if tenant is None:
        raise DocumentError("documents are stored per tenant; no tenant is bound")
    return tenant.schema_name


def add_document(
    session: Session,
    store: DocumentStore,
    person: Person,
    upload: Upload,
    data: Mapping[str, Any],
) -> PersonDocument:
    """Store a file of ``person`` and record it."""
    values = {k: data.get(k) for k in DOCUMENT_FIELDS}
    if values["issued"] and values["expires"] and values["expires"] < values["issued"]:
        raise InvalidInput("expires before issued", fields={"expires": ["before issued"]})
    key = tenant_key(_schema_name(), "personnel", str(person.id), uuid.uuid4().hex)
    files.put(session, store, key, upload)
    document = PersonDocument(
        person_id=person.id,
        **values,
        filename=upload.filename,
        content_type=upload.content_type,
        size=upload.size,
        sha256=upload.sha256,
        storage_key=key,
        uploaded_by=current_actor.get().name,
    )
    session.add(document)
    session.flush()
    return document


class ContentCorrupt(DocumentError):
    """The stored bytes no longer match the SHA-256 recorded at upload."""

    status = 500
    code = "document_corrupt"


def document_content(store: DocumentStore, document: PersonDocument) -> bytes:
    """The document's bytes, checked against the SHA-256 recorded at upload."""
    data = store.get(document.storage_key)
    if hashlib.sha256(data).hexdigest() != document.sha256:
        raise ContentCorrupt("the stored file does not match its checksum")
    return data


def delete_document(session: Session, store: DocumentStore, document: PersonDocument) -> None:
    """Remove a document's row now and its file once that commits."""
    session.delete(document)
    files.remove_after_commit(session, store, document.storage_key)
    session.flush()
