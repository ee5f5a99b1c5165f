"""Fakes shared by the unit tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from exerciser.domain.calendar import NEW_YORK


class WeekdayCalendar:
    """Every weekday is a session, 9:30 to 16:00 New York, except ``holidays``; the
    ``early_closes`` close at 13:00."""

    name = "FAKE"
    first_day = date(2026, 1, 1)
    last_day = date(2027, 12, 31)

    def __init__(self, holidays: Iterable[date] = (), early_closes: Iterable[date] = ()) -> None:
        self.holidays = set(holidays)
        self.early_closes = set(early_closes)

    def is_session(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def previous_session(self, day: date) -> date:
        day -= timedelta(days=1)
        while not self.is_session(day):
            day -= timedelta(days=1)
        return day

    def next_session(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_session(day):
            day += timedelta(days=1)
        return day

    def session_open(self, day: date) -> datetime:
        return datetime.combine(day, time(9, 30), tzinfo=NEW_YORK)

    def session_close(self, day: date) -> datetime:
        close = time(13) if day in self.early_closes else time(16)
        return datetime.combine(day, close, tzinfo=NEW_YORK)
