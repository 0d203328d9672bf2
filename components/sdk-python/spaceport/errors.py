"""Tool errors: Python exceptions for the WIT `tool-error` variant.

A tool raises one of these to fail with a typed error the agent (and the
model) can act on; `spaceport.tools.call` raises them when a tool it calls
fails. Any other exception escaping a tool becomes `failed`.
"""

from __future__ import annotations

from ._wit import case_name


class ToolError(Exception):
    """A tool call failed. Raised directly, it is reported as `failed`."""

    #: The WIT case this exception stands for.
    kind = "failed"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArguments(ToolError):
    """The arguments do not fit the tool (say which field and why)."""

    kind = "invalid-arguments"


class NotFound(ToolError):
    """The thing the tool acts on does not exist (or is not the caller's)."""

    kind = "not-found"


class Unavailable(ToolError):
    """A dependency (database, LLM) is unavailable; retrying later may work."""

    kind = "unavailable"


class Failed(ToolError):
    """Anything else."""

    kind = "failed"


class UnknownTool(ToolError):
    """No tool with that name (raised by `tools.call`; providers get it for free)."""

    kind = "unknown-tool"


class AccessDenied(ToolError):
    """The caller is not granted the tool's component (only the host sends this)."""

    kind = "access-denied"


# Each WIT case name → its exception class.
_BY_KIND = {
    cls.kind: cls
    for cls in (InvalidArguments, NotFound, Unavailable, Failed, UnknownTool, AccessDenied)
}


def to_wit(error: ToolError):
    """The `tool-error` variant value for `error` (for the bindings)."""
    from wit_world.imports import tool_types as t

    case = {
        "unknown-tool": t.ToolError_UnknownTool,
        "invalid-arguments": t.ToolError_InvalidArguments,
        "not-found": t.ToolError_NotFound,
        "unavailable": t.ToolError_Unavailable,
        "access-denied": t.ToolError_AccessDenied,
    }.get(error.kind, t.ToolError_Failed)
    return case(error.message)


def from_wit(value) -> ToolError:
    """The exception for a `tool-error` variant value from the bindings."""
    return _BY_KIND.get(case_name(value, "ToolError_"), Failed)(str(value.value))
