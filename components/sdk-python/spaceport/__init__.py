"""Write Spaceport components in Python (with componentize-py).

The platform's WIT imports, with Python values and exceptions:

- `spaceport.context`     the request and its signed-in user (`context = true`)
- `spaceport.variables`   this component's manifest variables
- `spaceport.sql`         query/execute/transactions on granted databases
- `spaceport.llm`         chat completions and embeddings (`llm = true`)
- `spaceport.tools`       call other components' tools (`tools = [...]`)
- `spaceport.host_status` the host's health (`host_status = true`)
- `spaceport.vectors`     vector collections: upsert, filtered search (`vectors = [...]`)

Offering tools (worlds `tool-only` and `tool-component`): declare functions
with `@tool` and import `ToolProvider` into the app module, the export
componentize-py looks for. HTTP routes (worlds `http-component` and
`tool-component`): see `spaceport.http`.

Submodules are imported on first use, so a component pays (in start-up time)
only for what it touches, and a world without some interface still imports
this package.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    AccessDenied,
    Failed,
    InvalidArguments,
    NotFound,
    ToolError,
    Unavailable,
    UnknownTool,
)
from .provider import ToolProvider, tool

__all__ = [
    "AccessDenied", "Failed", "InvalidArguments", "NotFound", "ToolError", "Unavailable",
    "UnknownTool", "ToolProvider", "tool",
    "context", "variables", "sql", "llm", "tools", "host_status", "http", "vectors",
]

_LAZY = {"context", "variables", "sql", "llm", "tools", "host_status", "http", "vectors"}


def __getattr__(name: str) -> Any:
    # `spaceport.sql` etc. without importing every binding module up front.
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'spaceport' has no attribute {name!r}")
