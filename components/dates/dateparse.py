"""Resolve English date phrases ("next Friday at 5", "in 3 days", "end of month")
to a calendar date and an optional wall-clock time, relative to a given "now".

Pure standard library and no platform imports, so it runs (and is tested)
under any Python. The conventions, chosen for a todo list where dates are
almost always in the future:

- A bare or `this` weekday is its next occurrence, today included; `next
  <weekday>` is the first one after today; `last <weekday>` the last one before.
- Without a date, a time that has already passed today means tomorrow.
- Without a year, a month and day already past this year mean next year.
- An hour from 1 to 7 without am/pm is afternoon ("at 5" is 17:00); write
  "5am" or "05:00" for early morning.
- `next week` / `next month` / `next year` are the first day of that period;
  `this week` / `this month` / `this year` and `end of ...` its last day.
  Weeks run Monday to Sunday.
- Numeric dates are year-first (2026-12-01, 2026/12/01); day and month
  without a year's lead (27/11, 11/27/2026) only when one of the numbers
  cannot be a month: 12/01 is ambiguous between countries and is refused
  with that explanation.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

_WEEKDAYS = {
    "monday": 0, "mon": 0,
    "tuesday": 1, "tue": 1, "tues": 1,
    "wednesday": 2, "wed": 2,
    "thursday": 3, "thu": 3, "thur": 3, "thurs": 3,
    "friday": 4, "fri": 4,
    "saturday": 5, "sat": 5,
    "sunday": 6, "sun": 6,
}
_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3,
    "april": 4, "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7,
    "august": 8, "aug": 8, "september": 9, "sep": 9, "sept": 9,
    "october": 10, "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}
_NUMBERS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "fifteen": 15, "twenty": 20, "thirty": 30, "a couple of": 2, "couple of": 2,
    "a couple": 2, "a few": 3, "few": 3,
}
# Unit words → (kind, amount per unit).
_UNITS = {
    "minute": ("minutes", 1), "min": ("minutes", 1),
    "hour": ("hours", 1), "hr": ("hours", 1), "h": ("hours", 1),
    "day": ("days", 1), "d": ("days", 1),
    "business day": ("business_days", 1), "working day": ("business_days", 1),
    "workday": ("business_days", 1), "weekday": ("business_days", 1),
    "week": ("days", 7), "wk": ("days", 7), "fortnight": ("days", 14),
    "month": ("months", 1), "mo": ("months", 1),
    "year": ("months", 12), "yr": ("months", 12),
}
# Parts of the day without a clock time.
_PERIODS = {
    "morning": time(9), "afternoon": time(15), "evening": time(18), "night": time(20),
    "tonight": time(20), "noon": time(12), "midday": time(12), "midnight": time(0),
    "end of day": time(17), "eod": time(17), "end of business": time(17),
    "close of business": time(17), "cob": time(17),
}

_WD = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))
_MON = "|".join(sorted(_MONTHS, key=len, reverse=True))
_NUM = r"\d+|" + "|".join(sorted(_NUMBERS, key=len, reverse=True))
_UNIT = "|".join(sorted(_UNITS, key=len, reverse=True))
_ORD = r"(\d{1,2})(?:st|nd|rd|th)?"
_AMPM = r"(am|pm|a\.m\.?|p\.m\.?)"

# Clock times, tried in order; each may be preceded by "at".
_CLOCK_PATTERNS = [
    re.compile(rf"(?:\bat\s+)?(?<![\d:-])(\d{{1,2}}):(\d{{2}})(?::(\d{{2}}))?\s*{_AMPM}?(?![\d:])"),
    re.compile(rf"(?:\bat\s+)?\b(\d{{1,2}})()()\s*{_AMPM}(?=\s|$)"),
    re.compile(r"\bat\s+(\d{1,2})()()()(?:\s*o'?clock)?(?=\s|$)"),
    re.compile(r"\b(\d{1,2})()()()\s*o'?clock(?=\s|$)"),
]
_PERIOD_PATTERN = re.compile(
    r"(?:\b(?:at|in)\s+)?\b(" + "|".join(sorted(_PERIODS, key=len, reverse=True)) + r")\b"
)
_FILLERS = re.compile(r"^(?:on|by|due|until|till|til|before|for|at|from)\s+")


class DateParseError(ValueError):
    """The phrase could not be resolved; the message says why and what works."""


@dataclass
class Resolved:
    """A resolved phrase: a date, and a local wall-clock time when the phrase had one."""

    date: date
    time: time | None


# One phrase for each path through `resolve` (used to warm the parser up at build time).
WARM_UP_PHRASES = [
    "2026-12-01", "2026-12-01T17:00:00Z", "2026-12-01 at 5pm", "today", "tomorrow at 9:30am",
    "at 5", "5 o'clock", "this morning", "now", "in 3 days", "half an hour", "2 weeks ago",
    "in 3 business days", "next friday", "friday next week", "next week friday", "this weekend",
    "end of next month", "eom", "december 1", "1st of december 2027", "december 2027",
    "in december", "the 15th", "2026/12/01", "12/01", "nonsense",
]

EXAMPLES = ('"today", "tomorrow at 9am", "next Friday at 5", "friday 17:30", "in 3 days", '
            '"in 2 hours", "end of month", "next week", "December 1", "2026-12-01"')


def resolve(text: str, now: datetime) -> Resolved:
    """Resolve `text` relative to `now` (a datetime in the user's time zone)."""
    raw = text.strip()
    if not raw:
        raise DateParseError(f"the phrase is empty; try one like {EXAMPLES}")
    iso = _iso(raw, now)
    if iso is not None:
        return iso

    s = _normalize(raw)
    clock, s = _extract_clock(s)
    period, s = _extract_period(s)
    when = _combine_time(clock, period)

    s = _strip_fillers(s)
    today = now.date()
    if s in ("", "this"):
        if s == "" and period != "tonight" and when is not None and when <= now.time():
            # "at 9am" said at noon: the next 9am.
            return Resolved(today + timedelta(days=1), when)
        if when is None:
            raise DateParseError(_unknown(raw))
        return Resolved(today, when)

    if s in ("now", "right now", "immediately", "asap"):
        return Resolved(today, when or _whole_seconds(now.time()))

    relative = _relative(s, now)
    if relative is not None:
        return Resolved(relative.date, when or relative.time)

    day = _absolute_date(s, today)
    if day is None:
        raise DateParseError(_unknown(raw))
    return Resolved(day, when)


def _iso(raw: str, now: datetime) -> Resolved | None:
    """ISO-8601 dates and datetimes (an explicit offset is converted to `now`'s)."""
    if not re.match(r"^\d{4}-\d{2}-\d{2}", raw):
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
            raise DateParseError(f"{raw!r} is not a valid date") from None
        return None  # perhaps "2026-12-01 at 5pm": the general path handles it
    if len(raw) == 10:
        return Resolved(value.date(), None)
    if value.tzinfo is not None:
        value = value.astimezone(now.tzinfo)
    return Resolved(value.date(), value.time().replace(microsecond=0))


def _normalize(raw: str) -> str:
    s = raw.lower().replace(",", " ")
    s = re.sub(r"[.!?]+$", "", s.strip())
    s = re.sub(r"\bthe\b", " ", s)
    return re.sub(r"\s+", " ", s).strip()


def _strip_fillers(s: str) -> str:
    s = re.sub(r"\s+", " ", s).strip()
    while True:
        stripped = _FILLERS.sub("", s)
        if stripped == s:
            return s
        s = stripped


def _extract_clock(s: str) -> tuple[tuple[int, int, int, str | None, bool] | None, str]:
    """Find a clock time: ((hour, minute, second, am/pm, has leading zero), rest of s)."""
    for pattern in _CLOCK_PATTERNS:
        m = pattern.search(s)
        if m:
            hour_text = m.group(1)
            minute, second = int(m.group(2) or 0), int(m.group(3) or 0)
            ampm = (m.group(4) or "").replace(".", "") or None
            rest = (s[: m.start()] + " " + s[m.end():]).strip()
            return (int(hour_text), minute, second, ampm, hour_text.startswith("0")), rest
    return None, s


def _extract_period(s: str) -> tuple[str | None, str]:
    m = _PERIOD_PATTERN.search(s)
    if not m:
        return None, s
    return m.group(1), (s[: m.start()] + " " + s[m.end():]).strip()


def _combine_time(clock, period: str | None) -> time | None:
    if clock is None:
        return _PERIODS[period] if period else None
    hour, minute, second, ampm, zero_padded = clock
    if minute > 59 or second > 59:
        raise DateParseError(f"{hour}:{minute:02d} is not a valid time")
    if ampm:
        if not 1 <= hour <= 12:
            raise DateParseError(f"{hour}{ampm} is not a valid time (use 1-12 with am/pm)")
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif period in ("afternoon", "evening", "night", "tonight") and hour < 12:
        hour += 12  # "5 in the evening"
    elif period in ("morning",) and hour == 12:
        hour = 0
    elif period is None and 1 <= hour <= 7 and not zero_padded:
        hour += 12  # "at 5": nobody means 5 in the morning without saying so
    if hour > 23:
        raise DateParseError(f"{hour}:{minute:02d} is not a valid time")
    return time(hour, minute, second)


def _number(text: str) -> int:
    return int(text) if text.isdigit() else _NUMBERS[text]


def _relative(s: str, now: datetime) -> Resolved | None:
    """Offsets from now: "in 3 days", "2 weeks from now", "an hour ago", "half an hour"."""
    if re.fullmatch(r"(?:in\s+)?half\s+(?:an\s+)?hour(?:\s+from\s+now)?", s):
        moved = now + timedelta(minutes=30)
        return Resolved(moved.date(), _whole_seconds(moved.time()))
    m = re.fullmatch(
        rf"(?:in\s+|after\s+)?({_NUM})\s*({_UNIT})s?"
        r"(?:\s+(from\s+now|from\s+today|later|hence|time|ago|before\s+now))?",
        s,
    )
    if not m:
        return None
    amount = _number(m.group(1))
    if (m.group(3) or "").startswith(("ago", "before")):
        amount = -amount
    kind, per_unit = _UNITS[m.group(2)]
    amount *= per_unit
    today = now.date()
    if kind in ("minutes", "hours"):
        moved = now + timedelta(**{kind: amount})
        return Resolved(moved.date(), _whole_seconds(moved.time()))
    if kind == "days":
        return Resolved(today + timedelta(days=amount), None)
    if kind == "business_days":
        return Resolved(_add_business_days(today, amount), None)
    return Resolved(_add_months(today, amount), None)


def _absolute_date(s: str, today: date) -> date | None:
    """Everything that names a day without a clock offset."""
    simple = {
        "today": 0, "tomorrow": 1, "tmrw": 1, "tmr": 1, "tomorow": 1, "tommorow": 1,
        "yesterday": -1, "day after tomorrow": 2, "overmorrow": 2, "day before yesterday": -2,
    }
    if s in simple:
        return today + timedelta(days=simple[s])

    if m := re.fullmatch(
            rf"(?:(this\s+coming|this|next|last|coming|past|previous)\s+)?({_WD})(\s+after\s+next)?", s):
        return _weekday(today, _WEEKDAYS[m.group(2)], m.group(1), bool(m.group(3)))
    if m := (re.fullmatch(rf"({_WD})\s+(this|next|last)\s+week", s)
             or re.fullmatch(rf"(this|next|last)\s+week(?:\s+on)?\s+({_WD})", s)):
        wd, which = (m.group(1), m.group(2)) if m.group(1) in _WEEKDAYS else (m.group(2), m.group(1))
        return _week_start(today, which) + timedelta(days=_WEEKDAYS[wd])

    if (day := _period_date(s, today)) is not None:
        return day

    # "December 1", "Dec 1st 2026", "1 December", "1st of December 2026", "December 2026".
    m = (re.fullmatch(rf"(?:(?:{_WD})\s+)?({_MON})\s+{_ORD}(?:\s+(\d{{4}}))?", s)
         or re.fullmatch(rf"(?:(?:{_WD})\s+)?{_ORD}\s+(?:of\s+)?({_MON})(?:\s+(\d{{4}}))?", s))
    if m:
        groups = m.groups()
        month_word, day_text = (groups[0], groups[1]) if groups[0] in _MONTHS else (groups[1], groups[0])
        return _month_day(today, _MONTHS[month_word], int(day_text), groups[2], s)
    if m := re.fullmatch(rf"({_MON})\s+(\d{{4}})", s):
        return date(int(m.group(2)), _MONTHS[m.group(1)], 1)
    if m := re.fullmatch(rf"(?:in\s+)?({_MON})", s):
        # "in December": its first day ahead (today when we are in it).
        month = _MONTHS[m.group(1)]
        if month == today.month:
            return today
        return date(today.year + (month < today.month), month, 1)
    if m := re.fullmatch(rf"(?:(?:{_WD})\s+)?(\d{{1,2}})(?:st|nd|rd|th)", s):
        return _day_of_month(today, int(m.group(1)), s)

    # Year-first numeric dates, e.g. "2026-12-01" next to a time, "2026/12/01".
    if m := re.fullmatch(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", s):
        return _checked_date(int(m.group(1)), int(m.group(2)), int(m.group(3)), s)
    if m := re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}|\d{2}))?", s):
        return _numeric_day_month(today, int(m.group(1)), int(m.group(2)), m.group(3), s)
    return None


def _numeric_day_month(today: date, a: int, b: int, year_text: str | None, s: str) -> date:
    """`27/11` or `11/27` (with an optional year): accepted only when one number
    cannot be a month; 12/01 could be either, and guessing wrong is worse than asking."""
    if a > 12 >= b:
        day, month = a, b
    elif b > 12 >= a:
        month, day = a, b
    else:
        raise DateParseError(
            f"{s!r} is ambiguous (day/month or month/day?); write it as YYYY-MM-DD, "
            "e.g. 2026-12-01, or with the month's name, e.g. 1 December")
    if year_text and len(year_text) == 2:
        year_text = str(2000 + int(year_text))
    return _month_day(today, month, day, year_text, s)


def _period_date(s: str, today: date) -> date | None:
    """Weeks, months and years: "next week", "end of month", "this weekend"."""
    aliases = {"eow": "end of week", "eom": "end of month", "eoy": "end of year",
               "weekend": "this weekend"}
    s = aliases.get(s, s)
    if m := re.fullmatch(r"(this|next|last|coming)\s+weekend", s):
        # "coming weekend" is the one ahead, like "this weekend".
        week = "this" if m.group(1) in ("this", "coming") else m.group(1)
        saturday = _week_start(today, week) + timedelta(days=5)
        # On a Sunday "this weekend" is today, not yesterday.
        return max(saturday, today) if week == "this" else saturday
    m = re.fullmatch(
        r"(?:(end|start|beginning|middle|mid)\s+(?:of\s+)?)?(this|next|last|coming)?\s*(week|month|year)", s)
    if not m or (m.group(1) is None and m.group(2) is None):
        return None
    edge, which, unit = m.group(1), m.group(2) or "this", m.group(3)
    if edge is None:
        edge = "end" if which == "this" else "start"
    shift = {"this": 0, "next": 1, "coming": 1, "last": -1}[which]
    if unit == "week":
        start, length = _week_start(today, which), 7
    elif unit == "month":
        first = _add_months(today.replace(day=1), shift)
        start, length = first, calendar.monthrange(first.year, first.month)[1]
    else:
        start = date(today.year + shift, 1, 1)
        length = 366 if calendar.isleap(start.year) else 365
    if edge == "end":
        return start + timedelta(days=length - 1)
    if edge in ("middle", "mid"):
        return start + timedelta(days=(length - 1) // 2)
    return start


def _weekday(today: date, target: int, which: str | None, after_next: bool) -> date:
    ahead = (target - today.weekday()) % 7
    if which in ("last", "past", "previous"):
        return today - timedelta(days=(today.weekday() - target) % 7 or 7)
    if which == "next" or after_next:
        ahead = ahead or 7  # strictly after today
    if after_next:
        ahead += 7
    return today + timedelta(days=ahead)


def _week_start(today: date, which: str | None) -> date:
    monday = today - timedelta(days=today.weekday())
    return monday + timedelta(days=7 * {"next": 1, "coming": 1, "last": -1}.get(which or "", 0))


def _month_day(today: date, month: int, day: int, year_text: str | None, s: str) -> date:
    if year_text:
        return _checked_date(int(year_text), month, day, s)
    # Check against a leap year so that "February 29" is not refused before we pick the year.
    _checked_date(2000, month, day, s)
    for year in range(today.year, today.year + 9):
        try:
            candidate = date(year, month, day)
        except ValueError:  # February 29 outside a leap year
            continue
        if candidate >= today:
            return candidate
    raise DateParseError(f"{s!r} is not a valid date")  # unreachable in practice


def _day_of_month(today: date, day: int, s: str) -> date:
    """"the 15th": this month's if still ahead, else the next month that has it."""
    if not 1 <= day <= 31:
        raise DateParseError(f"{s!r} is not a day of the month")
    first = today.replace(day=1)
    for shift in range(0, 13):
        month = _add_months(first, shift)
        if day <= calendar.monthrange(month.year, month.month)[1]:
            candidate = month.replace(day=day)
            if candidate >= today:
                return candidate
    raise DateParseError(f"{s!r} is not a valid date")


def _checked_date(year: int, month: int, day: int, s: str) -> date:
    try:
        return date(year, month, day)
    except ValueError as e:
        raise DateParseError(f"{s!r} is not a valid date ({e})") from None


def _add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def _add_business_days(day: date, count: int) -> date:
    step = 1 if count >= 0 else -1
    remaining = abs(count)
    while remaining:
        day += timedelta(days=step)
        if day.weekday() < 5:
            remaining -= 1
    return day


def _whole_seconds(t: time) -> time:
    return t.replace(microsecond=0, tzinfo=None)


def _unknown(raw: str) -> str:
    return (f"could not understand the date {raw!r}; try a phrase like {EXAMPLES}, "
            "or give the date as YYYY-MM-DD")
