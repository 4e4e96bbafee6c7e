"""The single error format of the API, and the handlers that produce it.

Every error, whatever raised it, answers::

    {"error": {"code": "invalid_input", "message": "...",
               "fields": {"credit_code": ["..."]}, "request_id": "..."}}

``code`` is machine-readable and stable; ``fields`` names each offending field.
Only unexpected exceptions are logged with a traceback: a client's bad input is
never a server error.
"""

from __future__ import annotations

import logging
from typing import Any

import marshmallow as ma
from flask import Flask, Response, current_app, g, jsonify, request
from psycopg.errors import NumericValueOutOfRange
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException

from ems.errors import EmsError, RateLimited

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    428: "precondition_required",
    429: "rate_limited",
}


class ErrorBodySchema(ma.Schema):
    """The inside of every error answer."""

    code = ma.fields.String(required=True, metadata={"description": "machine-readable error code"})
    message = ma.fields.String(required=True)
    # Named with data_key: an attribute called `fields` would shadow Schema.fields.
    field_errors = ma.fields.Dict(
        data_key="fields",
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "field name -> problems"},
    )
    request_id = ma.fields.String(allow_none=True)


class ErrorSchema(ma.Schema):
    """Every error answer of the API."""

    error = ma.fields.Nested(ErrorBodySchema, required=True)


def _flatten(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """webargs' nested messages -> {"field.sub": ["problem", ...]}."""
    out: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            out.update(_flatten(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        out[prefix or "_schema"] = list(messages)
    else:
        out[prefix or "_schema"] = [str(messages)]
    return out


def _location_fields(messages: dict[str, Any]) -> dict[str, list[str]]:
    # Body fields are named plainly; query, header and path fields keep their location.
    fields: dict[str, list[str]] = {}
    for location, inner in messages.items():
        flat = _flatten(inner)
        if location == "json":
            fields.update(flat)
        else:
            fields.update({f"{location}.{k}": v for k, v in flat.items()})
    return fields


def error_response(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> Response:
    """Build the error answer: JSON for the API, a page for the portal's pages."""
    page_renderer = current_app.extensions.get("ems_page_errors")
    if page_renderer is not None and not _machine_path(request.path):
        response: Response = page_renderer(status, code, message, fields)
        return response
    body: dict[str, Any] = {
        "code": code,
        "message": message,
        "request_id": g.get("request_id"),
    }
    if fields:
        body["fields"] = fields
    response = jsonify({"error": body})
    response.status_code = status
    return response


def handle_ems_error(error: EmsError) -> Response:
    """An error raised on purpose by a service or the request pipeline."""
    fields = {k: v if isinstance(v, list) else [str(v)] for k, v in error.fields.items()}
    response = error_response(error.status, error.code, error.message, fields)
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="ems"'
    return response


def handle_http_exception(error: HTTPException) -> Response:
    """Werkzeug and flask-smorest errors (404 routes, 405, 422 validation, 428)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    fields = _location_fields(data["messages"]) if "messages" in data else None
    message = data.get("message") or error.description or error.name
    if status == 422 and fields:
        message = "invalid input: " + ", ".join(sorted(fields))
    if status == 400 and not message:
        message = "the request body is not valid JSON"
    response = error_response(status, HTTP_CODES.get(status, "error"), str(message), fields)
    for name, value in (data.get("headers") or {}).items():
        response.headers[name] = value
    return response


def handle_unexpected(error: Exception) -> Response:
    """A bug: logged with its traceback, answered without internals."""
    log.exception("unhandled error (request %s)", g.get("request_id"))
    return error_response(500, "internal_error", "internal error; quote the request id")


def handle_out_of_range(error: DataError) -> Response:
    """A number too large for its column (an id past 2^31 in a URL, say): the input's fault."""
    if isinstance(error.orig, NumericValueOutOfRange):
        return error_response(422, "invalid_input", "a number is out of range (too large)")
    return handle_unexpected(error)


def register(app: Flask) -> None:
    """Install the handlers on ``app``."""
    app.register_error_handler(DataError, handle_out_of_range)
    app.register_error_handler(EmsError, handle_ems_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(Exception, handle_unexpected)


def _machine_path(path: str) -> bool:
    # The API, probes and metrics answer machines in JSON; everything else is the portal's.
    return path.startswith("/api/") or path in ("/healthz", "/readyz", "/metrics")
