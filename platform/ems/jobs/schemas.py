"""Schemas of the jobs API."""

from __future__ import annotations

import marshmallow as ma


class JobSchema(ma.Schema):
    """A job: where it stands and what it did."""

    id = ma.fields.Integer()
    kind = ma.fields.String(metadata={"description": "ledger_import, ledger_export, ..."})
    params = ma.fields.Dict(
        metadata={"description": "on what: the ledger, the file format, filters, dry_run"}
    )
    status = ma.fields.String(metadata={"description": "queued, running, done or failed"})
    done = ma.fields.Integer(metadata={"description": "rows done so far"})
    total = ma.fields.Integer(allow_none=True, metadata={"description": "rows in all, once known"})
    message = ma.fields.String(allow_none=True)
    result = ma.fields.Dict(
        allow_none=True,
        metadata={
            "description": "done: what it did (rows, created, updated ...); failed: the error "
            "code and, for a refused file, errors per cell keyed rows[N].field"
        },
    )
    input_filename = ma.fields.String(allow_none=True)
    output_filename = ma.fields.String(
        allow_none=True, metadata={"description": "the file to download from .../file"}
    )
    output_content_type = ma.fields.String(allow_none=True)
    created_by = ma.fields.String()
    created_at = ma.fields.AwareDateTime()
    started_at = ma.fields.AwareDateTime(allow_none=True)
    finished_at = ma.fields.AwareDateTime(allow_none=True)
