"""Uploads and downloads over the API: multipart bodies with fields and a file, and
file answers.

flask-smorest documents one request body per operation and webargs reads the
``form`` and ``files`` locations apart, so a document upload (a file plus its
title, kind, dates) could not be one validated schema. :func:`accept_uploads`
gives a blueprint a parser whose ``form`` location holds the form fields *and*
the files, and raises the request size limit on the routes that take files.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from webargs.multidictproxy import MultiDictProxy
from werkzeug.datastructures import CombinedMultiDict, FileStorage

from ems.documents.files import MAX_BYTES, content_disposition
from ems.errors import InvalidInput

# A multipart body carries the file plus its fields and boundaries.
UPLOAD_BODY_BYTES = MAX_BYTES + 1024 * 1024


class FormAndFilesParser(FlaskParser):
    """webargs' Flask parser whose ``form`` location also holds the uploaded files."""

    def load_form(self, req: Any, schema: Any) -> Any:
        return MultiDictProxy(CombinedMultiDict([req.form, req.files]), schema)


def accept_uploads(blp: Blueprint, endpoints: Iterable[tuple[str, str]]) -> None:
    """Let ``blp`` parse multipart forms, and take bodies up to the document limit on
    ``(endpoint, method)``; every other route keeps the application's small limit."""
    blp.ARGUMENTS_PARSER = FormAndFilesParser()
    allowed = frozenset(endpoints)

    def raise_limit() -> None:
        if (request.endpoint, request.method) in allowed:
            request.max_content_length = UPLOAD_BODY_BYTES

    blp.before_request(raise_limit)


def read_file(storage: Any, field: str = "file") -> tuple[str, bytes]:
    """The uploaded file's name and bytes (at most one byte past the limit is read)."""
    if not isinstance(storage, FileStorage):
        # A plain form field of that name, not a file part.
        raise InvalidInput("no file was uploaded", fields={field: ["a file part is required"]})
    data = storage.stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        limit = f"at most {MAX_BYTES // (1024 * 1024)} MiB"
        raise InvalidInput(f"the file is larger than allowed ({limit})", fields={field: [limit]})
    return storage.filename or "", data


def file_response(data: bytes, content_type: str, filename: str) -> Response:
    """An attachment: never rendered by the browser, whatever was uploaded."""
    response = Response(data, status=200, content_type=content_type)
    response.headers["Content-Disposition"] = content_disposition(filename)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, no-store"
    return response


BINARY_RESPONSE = {
    "200": {
        "description": "the file",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}
