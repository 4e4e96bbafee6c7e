"""The simulator's exception tree: one root, and the refusal a province answers with."""

from __future__ import annotations


class ProvsimError(Exception):
    """Root of every error the simulator raises to its caller (not to its HTTP clients)."""


class ProfileError(ProvsimError):
    """Raised when a profile TOML cannot be found or holds a value the simulator does not know."""


class Refusal(ProvsimError):
    """Raised inside request handling when the platform refuses the request.

    ``status`` is the HTTP status (200 for a refusal in the JSON body, 401 for bearer auth,
    404 for an unknown endpoint); ``code`` overrides the profile's failure code (bearer auth
    answers "401").
    """

    def __init__(self, message: str, *, status: int = 200, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
