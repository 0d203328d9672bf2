"""JSON encoding shared by tool results and HTTP responses."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import json
from typing import Any


def dumps(value: Any) -> str:
    """Compact JSON text (UTF-8 kept as is) for `value`, which may also hold
    dataclasses, dates and times (ISO-8601), enums, sets, tuples and bytes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_fallback)


def _fallback(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    raise TypeError(f"a value of type {type(value).__name__} is not JSON-serializable")
