"""Helpers over componentize-py's generated bindings (the `wit_world` package)."""

from __future__ import annotations

import re
from typing import Any


def case_name(value: Any, prefix: str) -> str:
    """The WIT case name of a generated variant value: componentize-py names the
    case classes `<Variant>_<CamelCase>`, e.g. `Error_RateLimited` → `rate-limited`."""
    camel = type(value).__name__.removeprefix(prefix)
    return re.sub(r"(?<!^)([A-Z])", r"-\1", camel).lower()
