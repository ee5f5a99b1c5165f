"""The NYSE session calendar, over exchange-calendars.

``XnysCalendar`` implements ``exerciser.domain.calendar.SessionCalendar`` for the ``XNYS``
calendar of the exchange-calendars library. It is always built over an explicit range
(never the library's default one-year window, which would silently end a year out) and
copies what it needs into plain dicts and a sorted tuple once, in ``__init__``: the
decision engine asks about every contract of a book (100,000 rows), so lookups are
dict hits or a bisection, with no pandas in the hot path. Times are converted from the
library's UTC timestamps to aware datetimes in America/New_York.

Unscheduled closures (the national days of mourning 2018-12-05 and 2025-01-09) are not
computed from rules: they come from the library's data (its ``adhoc_holidays``), so a
closure announced after the installed release is missing until exchange-calendars is
upgraded. An operator facing one before a release has it must upgrade the library (or
pin a patched build) and restart the daemon; the exchanges then also announce special
exercise cutoffs, which this calendar does not know. Cross-checking the calendar against
the broker's market-hours endpoint, and alerting on a disagreement, is future work.
"""

from __future__ import annotations

import warnings
from bisect import bisect_left, bisect_right
from datetime import date, datetime, timedelta
from typing import Any

from exerciser.domain.calendar import NEW_YORK, CalendarRangeError, NotASessionError

RANGE_MARGIN = timedelta(days=7)
"""Extra days on each side of ``XnysCalendar.around``'s range, so a Saturday listing or a
lookup exactly ``years_ahead`` out still has its neighbouring sessions."""


class XnysCalendar:
    """NYSE sessions from ``start`` to ``end`` inclusive (a ``SessionCalendar``)."""

    name = "XNYS"

    def __init__(self, *, start: date, end: date) -> None:
        if start > end:
            raise ValueError(
                f"calendar start {start.isoformat()} is after its end {end.isoformat()}"
            )
        self._first_day = start
        self._last_day = end
        opens, closes = _load_xnys(start, end)
        self._opens = opens
        self._closes = closes
        self._sessions = tuple(sorted(closes))

    @classmethod
    def around(cls, today: date, *, years_back: int = 1, years_ahead: int = 2) -> XnysCalendar:
        """A calendar from ``years_back`` years before ``today`` to ``years_ahead`` after,
        plus a week of margin on each side."""
        return cls(
            start=_add_years(today, -years_back) - RANGE_MARGIN,
            end=_add_years(today, years_ahead) + RANGE_MARGIN,
        )

    @property
    def first_day(self) -> date:
        return self._first_day

    @property
    def last_day(self) -> date:
        return self._last_day

    def is_session(self, day: date) -> bool:
        self._check_in_range(day)
        return day in self._closes

    def previous_session(self, day: date) -> date:
        self._check_in_range(day)
        index = bisect_left(self._sessions, day)
        if index == 0:
            raise CalendarRangeError(day, first_day=self._first_day, last_day=self._last_day)
        return self._sessions[index - 1]

    def next_session(self, day: date) -> date:
        self._check_in_range(day)
        index = bisect_right(self._sessions, day)
        if index == len(self._sessions):
            raise CalendarRangeError(day, first_day=self._first_day, last_day=self._last_day)
        return self._sessions[index]

    def session_open(self, day: date) -> datetime:
        return self._session_time(self._opens, day)

    def session_close(self, day: date) -> datetime:
        return self._session_time(self._closes, day)

    def _session_time(self, times: dict[date, datetime], day: date) -> datetime:
        self._check_in_range(day)
        try:
            return times[day]
        except KeyError:
            raise NotASessionError(day, calendar=self.name) from None

    def _check_in_range(self, day: date) -> None:
        if not self._first_day <= day <= self._last_day:
            raise CalendarRangeError(day, first_day=self._first_day, last_day=self._last_day)

    def __repr__(self) -> str:
        return f"XnysCalendar(start={self._first_day!r}, end={self._last_day!r})"


def _load_xnys(start: date, end: date) -> tuple[dict[date, datetime], dict[date, datetime]]:
    """Opens and closes of every XNYS session in the range, keyed by session date.

    exchange-calendars is imported here rather than at module import: it pulls in pandas
    (well over a second), which commands that never touch the calendar should not pay.
    """
    import exchange_calendars  # noqa: PLC0415

    with warnings.catch_warnings():
        # exchange-calendars 4.13 reads ``Series.values`` on tz-aware columns while it
        # builds a calendar, which pandas 3 deprecates (Pandas4Warning, a
        # DeprecationWarning). It is the library's own call, not ours: silence exactly it.
        warnings.filterwarnings(
            "ignore",
            message=r"Series\.values returning an ndarray that drops timezone information",
            category=DeprecationWarning,
        )
        calendar: Any = exchange_calendars.get_calendar(
            "XNYS", start=start.isoformat(), end=end.isoformat()
        )
    schedule = calendar.schedule
    days = [stamp.date() for stamp in schedule.index]
    opens = [_new_york(stamp) for stamp in schedule["open"]]
    closes = [_new_york(stamp) for stamp in schedule["close"]]
    return dict(zip(days, opens, strict=True)), dict(zip(days, closes, strict=True))


def _new_york(stamp: Any) -> datetime:
    moment: datetime = stamp.to_pydatetime()
    return moment.astimezone(NEW_YORK)


def _add_years(day: date, years: int) -> date:
    """The same month and day ``years`` later; 29 February becomes 28 February."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
