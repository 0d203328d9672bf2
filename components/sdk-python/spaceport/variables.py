"""`spaceport:platform/variables`: this component's `[component.<id>.variables]`
from the manifest (always readable; no grant needed)."""

from __future__ import annotations

from wit_world.imports import variables as _variables


def get(name: str, default: str | None = None) -> str | None:
    """The variable `name`, or `default` when the manifest does not set it."""
    value = _variables.get(name)
    return default if value is None else value


def all() -> dict[str, str]:  # noqa: A001 - reads naturally as variables.all()
    """Every variable, by name."""
    return dict(_variables.get_all())
