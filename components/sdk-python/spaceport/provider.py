"""Offering tools: the `@tool` decorator and the `ToolProvider` export.

    from spaceport import ToolProvider, tool   # ToolProvider: the export componentize-py looks for

    @tool
    def add(a: int, b: int = 1) -> dict:
        \"\"\"Add two numbers.\"\"\"
        return {"sum": a + b}
"""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import dataclass
from typing import Callable

from . import errors, schema
from ._json import dumps
from .errors import Failed, InvalidArguments, ToolError, UnknownTool


@dataclass
class ToolSpec:
    """A registered tool."""

    name: str
    description: str
    schema: dict
    params: list[schema.Param]
    function: Callable


# Every tool declared with `@tool`, in declaration order.
_registry: dict[str, ToolSpec] = {}


def tool(fn: Callable | None = None, *, name: str | None = None, description: str | None = None):
    """Declare `fn` a tool. Usable bare (`@tool`) or with options
    (`@tool(name="add_task", description="...")`).

    The arguments' JSON Schema comes from the type hints, the description from
    the docstring (its `Args:` section describes each parameter). The function
    returns anything JSON-serializable (dataclasses, dates and enums too) and
    fails by raising a `ToolError` subclass such as `InvalidArguments`.
    """

    def register(f: Callable) -> Callable:
        tool_name = name or f.__name__
        if tool_name in _registry:
            raise ValueError(f"tool {tool_name!r} is declared twice")
        summary, args_schema, params = schema.describe_function(f)
        text = description or summary
        if not text:
            raise ValueError(f"tool {tool_name!r} needs a docstring or description: the model reads it")
        _registry[tool_name] = ToolSpec(tool_name, text, args_schema, params, f)
        return f

    return register(fn) if fn is not None else register


def registered() -> list[ToolSpec]:
    """The declared tools, in declaration order."""
    return list(_registry.values())


def invoke(name: str, arguments: str) -> str:
    """Run tool `name` with JSON `arguments`; returns the result as JSON text.
    Raises `ToolError` (subclasses) for every failure."""
    spec = _registry.get(name)
    if spec is None:
        raise UnknownTool(f"no tool named {name!r} (tools: {', '.join(_registry) or 'none'})")
    try:
        decoded = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError as e:
        raise InvalidArguments(f"arguments are not valid JSON: {e}") from None
    kwargs = schema.check_arguments(decoded, spec.params)
    try:
        return dumps(spec.function(**kwargs))
    except ToolError:
        raise
    except Exception as e:
        # The traceback goes to stderr (a host log line); the model gets a short message.
        traceback.print_exc(file=sys.stderr)
        raise _from_platform_error(e) from e


class ToolProvider:
    """The `spaceport:platform/tool-provider` export.

    componentize-py looks for a class named `ToolProvider` in the app module:
    import it there (`from spaceport import ToolProvider`) and it serves every
    `@tool` the app declared.
    """

    def describe(self) -> list:
        from wit_world.imports.tool_types import Tool

        return [
            Tool(name=s.name, description=s.description, parameters_schema=json.dumps(s.schema))
            for s in _registry.values()
        ]

    def invoke(self, name: str, arguments: str) -> str:
        from componentize_py_types import Err

        try:
            return invoke(name, arguments)
        except ToolError as e:
            raise Err(errors.to_wit(e)) from None


def _from_platform_error(e: Exception) -> ToolError:
    """An uncaught exception as a tool error: outages of the host's services
    become `unavailable` (the model may retry), anything else `failed`."""
    kind = getattr(e, "kind", None)
    if kind in ("unavailable", "timeout", "rate-limited", "unconfigured"):
        return errors.Unavailable(str(e))
    return Failed(f"{type(e).__name__}: {e}")
