"""Errors as pages: the same error tree as the API, rendered for a browser.

An unauthenticated page request goes to the login page (and back afterwards);
a form's validation errors never come here (the form is shown again with them).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, g, make_response, redirect, render_template, request, url_for

from ems.portal.i18n import mark
from ems.portal.web import safe_next

TITLES = {
    400: mark("Bad request"),
    403: mark("Not allowed"),
    404: mark("Not found"),
    405: mark("Not allowed"),
    409: mark("Conflict"),
    413: mark("File too large"),
    422: mark("Invalid input"),
    429: mark("Too many requests"),
    500: mark("Something went wrong"),
}


def render_error(
    status: int, code: str, message: str, fields: dict[str, list[str]] | None
) -> Response:
    """The page answering an error (a redirect to the login page for 401)."""
    session = g.get("db")
    if session is not None:
        # A failed statement leaves the transaction aborted; the page still reads the
        # user's tenants for the menu, in a fresh one. Nothing of the request is kept.
        session.rollback()
    if status == 401:
        back = _back_to()
        target = url_for("portal.login", next=back)
        if g.get("session_expired"):
            target = url_for("portal.login", next=back, expired=1)
        if request.headers.get("HX-Request") == "true":
            # htmx follows HX-Redirect with a full page load instead of swapping a fragment.
            response = make_response("", 401)
            response.headers["HX-Redirect"] = target
            return response
        return redirect(target, code=303)  # type: ignore[return-value]
    body = render_template(
        "portal/error.html",
        status=status,
        code=code,
        title=TITLES.get(status, mark("Error")),
        message=message,
        fields=fields or {},
    )
    return make_response(body, status)


def _back_to() -> str:
    # After logging in again, the user returns to the page, not to the fragment a poll of
    # that page asked for: htmx names the page in HX-Current-URL (only its path is kept).
    if request.headers.get("HX-Request") == "true":
        parts = urlsplit(request.headers.get("HX-Current-URL", ""))
        page_path = parts.path + (f"?{parts.query}" if parts.query else "")
        return safe_next(page_path, "/")
    return request.full_path.rstrip("?")


def install(app: Flask) -> None:
    """Make the error handlers answer pages outside ``/api``."""
    app.extensions["ems_page_errors"] = render_error
