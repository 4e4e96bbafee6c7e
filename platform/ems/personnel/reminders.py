"""The ``certificate_expiry`` reminder source: documents of metering personnel whose expiry
falls within the lead time (DB53/T 1026-2021 §4.3: 资质 kept up to date).

A document is due from its ``expires`` date. Already expired documents are yielded
too: the reminders module creates one reminder per document and due date, so a
certificate recorded after it lapsed is still reminded exactly once, and nothing
is reminded twice. A document *superseded* by a renewal (the same person, kind and
certificate number, expiring later or never) is not reminded: uploading the new
certificate before the old one runs out silences it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from ems.personnel.models import DocumentKind, Person, PersonDocument
from ems.reminders import Due, register_source

KIND = "certificate_expiry"
SUBJECT = "personnel_document"
KIND_NAMES = {
    DocumentKind.ARCHIVE.value: "档案",
    DocumentKind.QUALIFICATION.value: "资格证书",
    DocumentKind.TRAINING.value: "培训证书",
}


def due_certificates(session: Session, today: date, lead_days: int) -> Iterator[Due]:
    """Every document expiring on or before ``today + lead_days`` that no renewal superseded."""
    renewal = aliased(PersonDocument)
    superseded = exists().where(
        renewal.person_id == PersonDocument.person_id,
        renewal.kind == PersonDocument.kind,
        renewal.certificate_number.is_not_distinct_from(PersonDocument.certificate_number),
        renewal.id != PersonDocument.id,
        or_(renewal.expires.is_(None), renewal.expires > PersonDocument.expires),
    )
    rows = session.execute(
        select(PersonDocument, Person.name)
        .join(Person, Person.id == PersonDocument.person_id)
        .where(
            and_(
                PersonDocument.expires.is_not(None),
                PersonDocument.expires <= today + timedelta(days=lead_days),
                ~superseded,
            )
        )
        .order_by(PersonDocument.expires, PersonDocument.id)
    )
    for document, name in rows:
        assert document.expires is not None  # noqa: S101 - filtered above
        number = f" ({document.certificate_number})" if document.certificate_number else ""
        yield Due(
            subject_type=SUBJECT,
            subject_id=document.id,
            due=document.expires,
            title=(
                f"计量人员 {name} 的{KIND_NAMES.get(document.kind, document.kind)}"
                f"「{document.title}」{number}于 {document.expires.isoformat()} 到期"
                f" / certificate of {name} expires"
            ),
        )


register_source(KIND, due_certificates)
