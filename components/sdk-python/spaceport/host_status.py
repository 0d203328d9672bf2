"""`spaceport:platform/host-status`: the host's version and the state of its
dependencies. Needs `host_status = true` in the manifest."""

from __future__ import annotations

from wit_world.imports import host_status as _host_status

#: A snapshot: `host_version`, `app_name`, `app_version`, `uptime_ms`, `dependencies`.
Status = _host_status.Status
#: A dependency's state (`State.HEALTHY`, `State.DOWN`, ...).
State = _host_status.State


def get() -> Status:
    """Take a snapshot of the host's status now."""
    return _host_status.get()
