"""The one exception tree of the platform, and its mapping to HTTP.

Services raise these; the web layer turns any of them into the single JSON
error format (see ``ems.web.errors``). Each class says when it is raised.
"""

from __future__ import annotations

from typing import Any


class EmsError(Exception):
    """Root of every error the platform raises on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class InvalidInput(EmsError):
    """Input was well-formed but a value is not acceptable (names the field)."""

    status = 422
    code = "invalid_input"


class NotFound(EmsError):
    """The object does not exist, or belongs to someone the caller may not see.

    Both cases answer identically so that a lookup never reveals another
    tenant's objects.
    """

    status = 404
    code = "not_found"


class Conflict(EmsError):
    """The write collides with existing state (a duplicate slug, a stale state)."""

    status = 409
    code = "conflict"


class Unauthenticated(EmsError):
    """No valid credentials came with the request."""

    status = 401
    code = "unauthenticated"


class Forbidden(EmsError):
    """The principal is known but its role does not allow the action."""

    status = 403
    code = "forbidden"


class TenantSuspended(Forbidden):
    """The tenant is suspended: its API refuses every call, its data stays."""

    code = "tenant_suspended"


class QuotaExceeded(Forbidden):
    """A plan limit (gateways, points, storage) would be exceeded by the write."""

    code = "quota_exceeded"


class RateLimited(EmsError):
    """The tenant's plan allows fewer API requests per minute than were made."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PreconditionFailed(EmsError):
    """An If-Match header did not match the current version of the object."""

    status = 412
    code = "precondition_failed"


class ServiceUnavailable(EmsError):
    """A backing service (database, broker) is not reachable."""

    status = 503
    code = "service_unavailable"
