"""The one exception tree of the edge agent.

Catch :class:`EdgeAgentError` to handle anything the agent raises on purpose;
each subclass says when it is raised.
"""

from __future__ import annotations


class EdgeAgentError(Exception):
    """Root of every error the edge agent raises on purpose."""


class ConfigError(EdgeAgentError):
    """The agent's configuration is missing, malformed or names an impossible setting."""


class CodecError(EdgeAgentError):
    """A meter frame or a wire message cannot be encoded or decoded as its protocol requires."""


class BufferFullError(EdgeAgentError):
    """The local buffer has reached its size limit, so a reading could not be stored."""
