"""Schemas of the personnel API: table A.2 and the documents of each person."""

from __future__ import annotations

from datetime import date

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from ems.personnel.models import DocumentKind, Sex
from ems.web.fields import Text

PHONE = r"^\+?[0-9][0-9 ()\-]{3,22}(?:(?:转|ext\.?|x)[0-9]{1,6})?$"
CERTIFICATE = r"^[^\s].{0,63}$"
DATES = validate.Range(min=date(1900, 1, 1), max=date(9999, 12, 30))
FORMATS = ("csv", "xlsx")


class PersonInputSchema(ma.Schema):
    """The columns of table A.2 (PUT replaces them all; 序号 is the row number of an export)."""

    name = Text(50, required=True, validate=validate.Length(min=1, max=50))
    sex = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.OneOf([s.value for s in Sex]),
        metadata={"description": "性别: male 男, female 女"},
    )
    department = Text(100, load_default=None, allow_none=True, metadata={"description": "工作部门"})
    position = Text(100, load_default=None, allow_none=True, metadata={"description": "职位或岗位"})
    professional_title = Text(
        50, load_default=None, allow_none=True, metadata={"description": "职称"}
    )
    education = Text(50, load_default=None, allow_none=True, metadata={"description": "最高学历"})
    school = Text(100, load_default=None, allow_none=True, metadata={"description": "毕业院校"})
    qualification = Text(
        200, load_default=None, allow_none=True, metadata={"description": "计量专业取证"}
    )
    certificate_number = Text(
        64,
        load_default=None,
        allow_none=True,
        validate=[validate.Length(min=1, max=64), validate.Regexp(CERTIFICATE)],
        metadata={"description": "证书编号: unique; identifies the person on import"},
    )
    training = Text(
        500,
        multiline=True,
        load_default=None,
        allow_none=True,
        metadata={"description": "专业培训"},
    )
    training_body = Text(
        200, load_default=None, allow_none=True, metadata={"description": "培训机构"}
    )
    phone = Text(
        32,
        load_default=None,
        allow_none=True,
        validate=[validate.Length(max=32), validate.Regexp(PHONE, error="not a phone number")],
        metadata={"description": "联系电话"},
    )
    email = ma.fields.Email(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=254),
        metadata={"description": "邮箱"},
    )
    remarks = Text(
        1000, multiline=True, load_default=None, allow_none=True, metadata={"description": "备注"}
    )


class PersonSchema(PersonInputSchema):
    """A person as stored."""

    id = ma.fields.Integer(dump_only=True)
    created_at = ma.fields.AwareDateTime(dump_only=True)
    updated_at = ma.fields.AwareDateTime(dump_only=True)


class PersonQuerySchema(ma.Schema):
    """Filter the ledger."""

    q = Text(50, metadata={"description": "part of the name or the certificate number"})
    department = Text(100)
    qualified = ma.fields.Boolean(metadata={"description": "has a certificate number or not"})


class ExportQuerySchema(ma.Schema):
    """Which file to export."""

    format = ma.fields.String(
        load_default="csv",
        validate=validate.OneOf(FORMATS),
        metadata={"description": "csv (UTF-8 with BOM; the default) or xlsx"},
    )


class ImportFileSchema(ma.Schema):
    """A ledger file (XLSX or CSV) with the standard's headings."""

    file = Upload(required=True, metadata={"description": ".xlsx or .csv"})


class ImportResultSchema(ma.Schema):
    """What an import did (all rows, or nothing)."""

    created = ma.fields.Integer()
    updated = ma.fields.Integer()
    rows = ma.fields.Integer()


class DocumentInputSchema(ma.Schema):
    """A document upload: the file and what it is."""

    file = Upload(required=True, metadata={"description": "PDF, OFD, JPEG, PNG, TIFF, Office"})
    kind = ma.fields.String(
        required=True,
        validate=validate.OneOf([k.value for k in DocumentKind]),
        metadata={"description": "archive 档案, qualification 资格证书, training 培训"},
    )
    title = Text(200, required=True, validate=validate.Length(min=1, max=200))
    certificate_number = Text(
        64, load_default=None, allow_none=True, validate=validate.Length(min=1, max=64)
    )
    issued = ma.fields.Date(load_default=None, allow_none=True, validate=DATES)
    expires = ma.fields.Date(
        load_default=None,
        allow_none=True,
        validate=DATES,
        metadata={"description": "the certificate's expiry; reminders fall due from it"},
    )


class DocumentSchema(ma.Schema):
    """A document's record (its bytes are at .../content)."""

    id = ma.fields.Integer()
    person_id = ma.fields.Integer()
    kind = ma.fields.String()
    title = ma.fields.String()
    certificate_number = ma.fields.String(allow_none=True)
    issued = ma.fields.Date(allow_none=True)
    expires = ma.fields.Date(allow_none=True)
    filename = ma.fields.String()
    content_type = ma.fields.String()
    size = ma.fields.Integer()
    sha256 = ma.fields.String()
    uploaded_by = ma.fields.String()
    created_at = ma.fields.AwareDateTime()


class DocumentQuerySchema(ma.Schema):
    """Filter a person's documents."""

    kind = ma.fields.String(validate=validate.OneOf([k.value for k in DocumentKind]))
