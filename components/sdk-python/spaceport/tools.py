"""`spaceport:platform/tools`: call the tools of the components the manifest
grants this one (`tools = ["task-tools"]`). Each call runs in a fresh instance
of the tool's component, as the same user.

    for t in tools.list():
        print(t.name, t.parameters)
    result = tools.call("add_task", {"title": "buy milk"})   # decoded JSON

A failing call raises the same `ToolError` subclasses a provider raises
(`InvalidArguments`, `NotFound`, `UnknownTool`, `AccessDenied`, ...).
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from typing import Any

from componentize_py_types import Err
from wit_world.imports import tools as _tools

from .errors import from_wit


@dataclass
class Tool:
    """A tool this component may call."""

    name: str
    description: str
    #: JSON Schema of its arguments, as JSON text (what the LLM interface takes).
    parameters_schema: str

    @property
    def parameters(self) -> dict:
        """JSON Schema of its arguments, decoded."""
        return json.loads(self.parameters_schema)


def list() -> builtins.list[Tool]:  # noqa: A001 - mirrors the WIT name
    """Every tool this component may call."""
    return [Tool(t.name, t.description, t.parameters_schema) for t in _tools.list()]


def call(name: str, arguments: dict | str | None = None) -> Any:
    """Call tool `name` with `arguments` (a dict, or JSON text); returns its
    result decoded from JSON. Raises a `ToolError` subclass when it fails."""
    if arguments is None:
        arguments = {}
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    try:
        result = _tools.call(name, text)
    except Err as e:
        raise from_wit(e.value) from None
    return json.loads(result) if result else None
