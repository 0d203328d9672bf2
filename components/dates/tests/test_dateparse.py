"""The date phrases the Todo agent relies on, against a fixed "now"."""

import unittest
from datetime import date, datetime, time, timedelta, timezone

import dateparse

# Tuesday 2026-11-24, 09:30 UTC.
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=timezone.utc)


def resolve(text, now=NOW):
    r = dateparse.resolve(text, now)
    return r.date.isoformat(), r.time.isoformat() if r.time else None


class Phrases(unittest.TestCase):
    def check(self, cases):
        for text, expected in cases:
            with self.subTest(text=text):
                self.assertEqual(resolve(text), expected)

    def test_brief_examples(self):
        self.check([
            ("today", ("2026-11-24", None)),
            ("tomorrow", ("2026-11-25", None)),
            ("next Friday at 5", ("2026-11-27", "17:00:00")),
            ("in 3 days", ("2026-11-27", None)),
            ("friday 17:30", ("2026-11-27", "17:30:00")),
            ("2026-12-01", ("2026-12-01", None)),
            ("end of month", ("2026-11-30", None)),
            ("next week", ("2026-11-30", None)),
        ])

    def test_days(self):
        self.check([
            ("Yesterday", ("2026-11-23", None)),
            ("the day after tomorrow", ("2026-11-26", None)),
            ("day before yesterday", ("2026-11-22", None)),
            ("by tomorrow.", ("2026-11-25", None)),
            ("now", ("2026-11-24", "09:30:00")),
        ])

    def test_weekdays(self):
        self.check([
            ("tuesday", ("2026-11-24", None)),        # today counts
            ("this tuesday", ("2026-11-24", None)),
            ("next tuesday", ("2026-12-01", None)),   # strictly after today
            ("wed", ("2026-11-25", None)),
            ("next monday", ("2026-11-30", None)),
            ("last friday", ("2026-11-20", None)),
            ("last tuesday", ("2026-11-17", None)),
            ("friday after next", ("2026-12-04", None)),
            ("friday next week", ("2026-12-04", None)),
            ("next week wednesday", ("2026-12-02", None)),
            ("on Thursday", ("2026-11-26", None)),
        ])

    def test_times(self):
        self.check([
            ("tomorrow at 9am", ("2026-11-25", "09:00:00")),
            ("tomorrow 9:15 p.m.", ("2026-11-25", "21:15:00")),
            ("at 10", ("2026-11-24", "10:00:00")),          # still ahead today
            ("at 9am", ("2026-11-25", "09:00:00")),         # already passed: tomorrow
            ("5pm", ("2026-11-24", "17:00:00")),
            ("wednesday 05:00", ("2026-11-25", "05:00:00")),  # zero-padded: as written
            ("tomorrow at 5 in the morning", ("2026-11-25", "05:00:00")),
            ("friday at 8 in the evening", ("2026-11-27", "20:00:00")),
            ("noon tomorrow", ("2026-11-25", "12:00:00")),
            ("tonight", ("2026-11-24", "20:00:00")),
            ("this morning", ("2026-11-24", "09:00:00")),
            ("morning", ("2026-11-25", "09:00:00")),
            ("friday at midnight", ("2026-11-27", "00:00:00")),
            ("12am", ("2026-11-25", "00:00:00")),
            ("12pm", ("2026-11-24", "12:00:00")),
        ])

    def test_offsets(self):
        self.check([
            ("in 2 hours", ("2026-11-24", "11:30:00")),
            ("in 45 minutes", ("2026-11-24", "10:15:00")),
            ("half an hour", ("2026-11-24", "10:00:00")),
            ("in an hour", ("2026-11-24", "10:30:00")),
            ("in three days", ("2026-11-27", None)),
            ("in a couple of days", ("2026-11-26", None)),
            ("2 weeks from now", ("2026-12-08", None)),
            ("3 days ago", ("2026-11-21", None)),
            ("in 1 month", ("2026-12-24", None)),
            ("in a year", ("2027-11-24", None)),
            ("in 4 business days", ("2026-11-30", None)),   # skips the weekend
            ("in 3 days at 5pm", ("2026-11-27", "17:00:00")),
            ("in 20 hours", ("2026-11-25", "05:30:00")),    # crosses midnight
        ])

    def test_periods(self):
        self.check([
            ("end of the month", ("2026-11-30", None)),
            ("eom", ("2026-11-30", None)),
            ("end of next month", ("2026-12-31", None)),
            ("start of next month", ("2026-12-01", None)),
            ("next month", ("2026-12-01", None)),
            ("this month", ("2026-11-30", None)),
            ("end of week", ("2026-11-29", None)),
            ("this week", ("2026-11-29", None)),
            ("end of next week", ("2026-12-06", None)),
            ("next year", ("2027-01-01", None)),
            ("end of year", ("2026-12-31", None)),
            ("this weekend", ("2026-11-28", None)),
            ("next weekend", ("2026-12-05", None)),
        ])

    def test_calendar_dates(self):
        self.check([
            ("December 1", ("2026-12-01", None)),
            ("Dec 25th", ("2026-12-25", None)),
            ("1 december", ("2026-12-01", None)),
            ("1st of December 2027", ("2027-12-01", None)),
            ("march 3", ("2027-03-03", None)),               # passed this year: next year's
            ("november 24", ("2026-11-24", None)),           # today is not past
            ("Friday, December 4, 2026 at 10:30", ("2026-12-04", "10:30:00")),
            ("february 29", ("2028-02-29", None)),           # the next leap day
            ("in december", ("2026-12-01", None)),
            ("december 2027", ("2027-12-01", None)),
            ("the 15th", ("2026-12-15", None)),              # this month's is past
            ("the 30th", ("2026-11-30", None)),
            ("2026/12/01", ("2026-12-01", None)),
            ("27/11", ("2026-11-27", None)),                 # only one reading possible
            ("11/27/2026", ("2026-11-27", None)),
            ("30.1.27", ("2027-01-30", None)),
            ("Friday the 27th", ("2026-11-27", None)),
            ("a week from today", ("2026-12-01", None)),
            ("2026-12-01 at 5pm", ("2026-12-01", "17:00:00")),
            ("2026-12-01T17:00", ("2026-12-01", "17:00:00")),
        ])

    def test_iso_offset_is_converted_to_the_users_zone(self):
        plus2 = NOW.astimezone(timezone(timedelta(hours=2)))
        r = dateparse.resolve("2026-12-01T23:30:00Z", plus2)
        self.assertEqual((r.date, r.time), (date(2026, 12, 2), time(1, 30)))

    def test_user_zone_decides_today(self):
        # 11:00 UTC on Tuesday is already Wednesday in UTC+14.
        kiribati = NOW.replace(hour=11).astimezone(timezone(timedelta(hours=14)))
        self.assertEqual(dateparse.resolve("today", kiribati).date, date(2026, 11, 25))

    def test_month_end_clamps(self):
        jan31 = datetime(2027, 1, 31, 12, tzinfo=timezone.utc)
        self.assertEqual(dateparse.resolve("in 1 month", jan31).date, date(2027, 2, 28))


class Refusals(unittest.TestCase):
    def refuses(self, text, fragment):
        with self.assertRaises(dateparse.DateParseError) as caught:
            dateparse.resolve(text, NOW)
        self.assertIn(fragment, str(caught.exception))

    def test_unknown_phrase_lists_examples(self):
        self.refuses("when pigs fly", "next Friday at 5")

    def test_empty(self):
        self.refuses("  ", "empty")

    def test_ambiguous_numeric_date(self):
        self.refuses("12/01", "YYYY-MM-DD")

    def test_impossible_dates_and_times(self):
        self.refuses("february 30", "not a valid date")
        self.refuses("2026-13-01", "not a valid date")
        self.refuses("tomorrow at 25:00", "not a valid time")
        self.refuses("13pm", "not a valid time")


class WarmUp(unittest.TestCase):
    def test_phrases_cover_the_parser_without_crashing(self):
        for phrase in dateparse.WARM_UP_PHRASES:
            try:
                dateparse.resolve(phrase, NOW)
            except dateparse.DateParseError:
                pass


if __name__ == "__main__":
    unittest.main()
