"""Tenant-schema tables of the metering personnel ledger (table A.2) and its documents."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ems.audit.models import Audited
from ems.db import TenantBase, UtcDateTime, utcnow


class Sex(enum.StrEnum):
    """性别."""

    MALE = "male"  # 男
    FEMALE = "female"  # 女


class DocumentKind(enum.StrEnum):
    """What a person's document is."""

    ARCHIVE = "archive"  # 档案: the personnel file
    QUALIFICATION = "qualification"  # 资格证书: a metrology qualification certificate
    TRAINING = "training"  # 培训证明: a training record or certificate


def _one_of(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Person(Audited, TenantBase):
    """One row of table A.2. ``certificate_number`` (证书编号), when given, identifies the
    person on import; see :mod:`ems.personnel.ledger`."""

    __tablename__ = "metering_personnel"
    __table_args__ = (
        CheckConstraint(f"sex IS NULL OR {_one_of('sex', Sex)}", name="sex"),
        # NULLs stay distinct: many people hold no certificate.
        Index("uq_metering_personnel_certificate_number", "certificate_number", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(50))  # 姓名
    sex: Mapped[str | None] = mapped_column(String(8))  # 性别
    department: Mapped[str | None] = mapped_column(String(100))  # 工作部门
    position: Mapped[str | None] = mapped_column(String(100))  # 职位或岗位
    professional_title: Mapped[str | None] = mapped_column(String(50))  # 职称
    education: Mapped[str | None] = mapped_column(String(50))  # 最高学历
    school: Mapped[str | None] = mapped_column(String(100))  # 毕业院校
    qualification: Mapped[str | None] = mapped_column(String(200))  # 计量专业取证
    certificate_number: Mapped[str | None] = mapped_column(String(64))  # 证书编号
    training: Mapped[str | None] = mapped_column(String(500))  # 专业培训
    training_body: Mapped[str | None] = mapped_column(String(200))  # 培训机构
    phone: Mapped[str | None] = mapped_column(String(32))  # 联系电话
    email: Mapped[str | None] = mapped_column(String(254))  # 邮箱
    remarks: Mapped[str | None] = mapped_column(String(1000))  # 备注
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class PersonDocument(Audited, TenantBase):
    """A file of a person, kept in the document store under ``storage_key``.

    ``expires`` is the certificate's expiry where it has one; it drives the
    ``certificate_expiry`` reminders.
    """

    __tablename__ = "personnel_documents"
    __table_args__ = (
        CheckConstraint(_one_of("kind", DocumentKind), name="kind"),
        CheckConstraint("expires IS NULL OR issued IS NULL OR expires >= issued", name="dates"),
        CheckConstraint("size > 0", name="size_positive"),
        Index("ix_personnel_documents_expires", "expires"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No cascade: deleting a person goes through the service, which removes the
    # documents (and their objects in the store) first.
    person_id: Mapped[int] = mapped_column(ForeignKey("metering_personnel.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    certificate_number: Mapped[str | None] = mapped_column(String(64))
    issued: Mapped[date | None] = mapped_column(Date)
    expires: Mapped[date | None] = mapped_column(Date)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300), unique=True)
    uploaded_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
