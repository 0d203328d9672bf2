"""`spaceport:platform/context`: the request this instance serves and its
signed-in user. Needs `context = true` in the manifest (without it each call
traps and the host answers `500 capability_denied`).
"""

from __future__ import annotations

from wit_world.imports import context as _context

#: The signed-in user: `user_id` and `email`.
Principal = _context.Principal


def user() -> Principal | None:
    """The authenticated user, or `None` for an anonymous request."""
    return _context.user()


def user_id() -> str | None:
    """The authenticated user's id, or `None` for an anonymous request."""
    principal = _context.user()
    return principal.user_id if principal else None


def request_id() -> str:
    """The request id (in every host log line for this request)."""
    return _context.request_id()


def component_id() -> str:
    """This component's id in the manifest."""
    return _context.component_id()


def matched_route() -> str:
    """The manifest route that matched, e.g. `/api/:user_id/tasks/...`."""
    return _context.matched_route()


def param(name: str) -> str | None:
    """One `:name` route parameter (percent-decoded), or `None`."""
    return _context.param(name)


def params() -> dict[str, str]:
    """Every route parameter, in route order."""
    return {p.name: p.value for p in _context.route_params()}


def path_info() -> str:
    """The part of the path a trailing `/...` matched (empty without one)."""
    return _context.path_info()
