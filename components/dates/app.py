"""The `dates` tool component: turns phrases like "next Friday at 5" into ISO-8601
dates for the Todo agent. World `spaceport:platform/tool-only`; needs no grants.

Optional manifest variable `timezone_offset_minutes`: the offset from UTC used
when a call gives neither `timezone_offset_minutes` nor a `now` with an offset
(default 0, UTC).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta, timezone
from typing import Annotated, Optional

import dateparse
from spaceport import InvalidArguments, ToolProvider, tool, variables  # noqa: F401 - ToolProvider is the export

# UTC offsets in use today run from -12:00 to +14:00.
_MAX_OFFSET_MINUTES = 14 * 60


@tool
def resolve_date(
    # At least one non-blank character: the host refuses "" and "   " before the tool runs.
    text: Annotated[str, {"minLength": 1, "maxLength": 200, "pattern": "\\S"}],
    timezone_offset_minutes: Annotated[Optional[int], {"minimum": -840, "maximum": 840}] = None,
    now: Optional[str] = None,
) -> dict:
    """Turn a natural-language date or time ("today", "tomorrow at 9am", "next Friday
    at 5", "friday 17:30", "in 3 days", "in 2 hours", "end of month", "next week",
    "December 1", "2026-12-01") into an ISO-8601 date, plus a datetime when the phrase
    has a time of day. Use it before saving a due date or answering "what day is ...".
    Conventions: "friday" is the next Friday (today if it is Friday), "next friday" the
    first one after today; "at 5" without am/pm is 17:00; "next week" is its Monday;
    "end of week" is Sunday.

    Args:
        text: The phrase to resolve, in English, as the user said it.
        timezone_offset_minutes: The user's offset from UTC in minutes (e.g. 60 for
            UTC+1, -300 for UTC-5), so that "today" is the user's today. Default: UTC.
        now: Reference time as ISO-8601 instead of the current time (for tests;
            normally left out).
    """
    reference = _reference_time(now, timezone_offset_minutes)
    try:
        resolved = dateparse.resolve(text, reference)
    except dateparse.DateParseError as e:
        raise InvalidArguments(f"field `text`: {e}") from None

    moment = None
    if resolved.time is not None:
        moment = datetime.combine(resolved.date, resolved.time, tzinfo=reference.tzinfo)
    return {
        "input": text,
        "date": resolved.date.isoformat(),
        "datetime": moment.isoformat(timespec="seconds") if moment else None,
        "weekday": dateparse.WEEKDAY_NAMES[resolved.date.weekday()],
        "days_from_today": (resolved.date - reference.date()).days,
    }


def _reference_time(now: Optional[str], offset_minutes: Optional[int]) -> datetime:
    """"Now" in the user's time zone: from `now` if given, else the WASI wall clock."""
    if offset_minutes is not None and abs(offset_minutes) > _MAX_OFFSET_MINUTES:
        raise InvalidArguments(
            f"field `timezone_offset_minutes`: {offset_minutes} is outside -840..840 (UTC-14 to UTC+14)")
    tz = None if offset_minutes is None else timezone(timedelta(minutes=offset_minutes))

    if now is None:
        # Read the clock here, never at import time: componentize-py runs the
        # module's top level at build time and snapshots the result.
        tz = tz or _default_timezone()
        return datetime.now(tz).replace(microsecond=0)
    try:
        reference = datetime.fromisoformat(now.strip())
    except ValueError:
        raise InvalidArguments(
            f"field `now`: {now!r} is not an ISO-8601 datetime such as 2026-11-24T09:30:00+00:00") from None
    if reference.tzinfo is None:
        return reference.replace(tzinfo=tz or _default_timezone())
    # An explicit offset in `now` is the user's zone unless the call names another.
    return reference.astimezone(tz) if tz else reference


def _default_timezone() -> timezone:
    """The manifest's `timezone_offset_minutes` variable, else UTC."""
    value = variables.get("timezone_offset_minutes")
    if value is None:
        return timezone.utc
    try:
        minutes = int(value)
        if abs(minutes) > _MAX_OFFSET_MINUTES:
            raise ValueError("out of range")
    except ValueError:
        # A bad manifest value should not break every call: log it and use UTC.
        print(f"variable timezone_offset_minutes={value!r} is not minutes in -840..840; using UTC",
              file=sys.stderr)
        return timezone.utc
    return timezone(timedelta(minutes=minutes))


def _warm_up() -> None:
    """Resolve a phrase of each kind once, at build time.

    componentize-py runs this module's top level while building and snapshots
    the interpreter's heap, so the regular expressions compiled here (Python
    caches them) and the code paths touched are ready in every fresh instance:
    the first call of an instance is its only call, and it should not pay for them.
    """
    reference = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    for phrase in dateparse.WARM_UP_PHRASES:
        try:
            dateparse.resolve(phrase, reference)
        except dateparse.DateParseError:
            pass
    # The result's JSON encoding too.
    json.dumps({"input": "", "date": "", "datetime": None, "weekday": "", "days_from_today": 0})


_warm_up()
