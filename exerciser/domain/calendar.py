"""Which day a contract expires, and when its decisions are due.

A listed expiration (third Friday, weekly, daily) that falls on an exchange holiday moves
to the **previous** session, and the exchange's deadline for the final exercise decision
is 17:30 ET on that day, or 90 minutes after the close on an early-close day (FINRA Rule
2360(b)(23)(A)). Both are date arithmetic over a ``SessionCalendar`` that is passed in:
the real one (exchange-calendars) lives in ``exerciser.adapters.calendar``, and tests
use small hand-written fakes. Nothing here reads the clock or a file.

Market times are aware datetimes in America/New_York, built with
``datetime.combine(day, t, tzinfo=NEW_YORK)`` so the UTC offset is the one of that day
(EDT in summer, EST in winter), never a fixed offset carried over a DST switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
REGULAR_CLOSE = time(16, 0)
"""A session that closes before this (New York time) is an early-close day."""
EXCHANGE_CUTOFF = time(17, 30)
"""The exchange's final-decision deadline on a regular day (New York time)."""
EARLY_CLOSE_CUTOFF_DELAY = timedelta(minutes=90)
"""On an early-close day the deadline is this long after the modified close."""


class SessionCalendar(Protocol):
    """The trading sessions of one exchange over a bounded range of days.

    A calendar only knows ``first_day`` to ``last_day`` (inclusive): asking about a day
    outside, or for a neighbour that would fall outside, raises ``CalendarRangeError``
    rather than guessing, because a guessed holiday is a wrong expiration date.
    """

    @property
    def name(self) -> str:
        """The exchange, for messages (``"XNYS"``)."""
        ...

    @property
    def first_day(self) -> date: ...

    @property
    def last_day(self) -> date: ...

    def is_session(self, day: date) -> bool: ...

    def previous_session(self, day: date) -> date:
        """The last session strictly before ``day``."""
        ...

    def next_session(self, day: date) -> date:
        """The first session strictly after ``day``."""
        ...

    def session_open(self, day: date) -> datetime:
        """When ``day``'s session opens: aware, America/New_York. ``day`` must be a session."""
        ...

    def session_close(self, day: date) -> datetime:
        """When ``day``'s session closes: aware, America/New_York. ``day`` must be a session."""
        ...


class CalendarRangeError(ValueError):
    """A day (or the session an answer needs) lies outside the calendar's range.

    The range is finite on purpose; the fix is to build the calendar over a wider range,
    never to assume an ordinary weekday.
    """

    def __init__(self, day: date, *, first_day: date, last_day: date) -> None:
        self.day = day
        self.first_day = first_day
        self.last_day = last_day
        super().__init__(
            f"{day.isoformat()} is outside the calendar range "
            f"{first_day.isoformat()} to {last_day.isoformat()}"
        )


class NotASessionError(ValueError):
    """A day that needs to be a trading session is not one (a weekend or a holiday)."""

    def __init__(self, day: date, *, calendar: str) -> None:
        self.day = day
        self.calendar = calendar
        super().__init__(f"{day.isoformat()} is not a trading session ({calendar})")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExpiryDay:
    """The hours that matter on one expiration day, all aware, America/New_York.

    ``close_at`` is the close whose last regular-hours trade sets the exercise-by-exception
    price; ``cutoff_at`` is the exchange's deadline for the final decision. Brokers may
    impose earlier internal cutoffs; those are policy, not calendar.
    """

    day: date
    open_at: datetime
    close_at: datetime
    cutoff_at: datetime
    early_close: bool


def is_early_close(close_at: datetime) -> bool:
    """Whether a session closes before the regular 16:00 New York close."""
    return _in_new_york(close_at).time() < REGULAR_CLOSE


def exchange_cutoff(close_at: datetime, *, early_close: bool) -> datetime:
    """The final-decision deadline for a session closing at ``close_at``.

    17:30 New York time on a regular day; ``close_at`` plus 90 minutes of elapsed time on
    an early-close day (14:30 after a 13:00 close). The early-close sum is done in UTC so
    it means 90 real minutes whatever the zone rules of the day.
    """
    local_close = _in_new_york(close_at)
    if early_close:
        return (local_close.astimezone(UTC) + EARLY_CLOSE_CUTOFF_DELAY).astimezone(NEW_YORK)
    return datetime.combine(local_close.date(), EXCHANGE_CUTOFF, tzinfo=NEW_YORK)


def expiry_day(calendar: SessionCalendar, day: date) -> ExpiryDay:
    """Open, close and cutoff of ``day``, which must be a session in range."""
    _check_in_range(calendar, day)
    if not calendar.is_session(day):
        raise NotASessionError(day, calendar=calendar.name)
    close_at = _in_new_york(calendar.session_close(day))
    early_close = is_early_close(close_at)
    return ExpiryDay(
        day=day,
        open_at=_in_new_york(calendar.session_open(day)),
        close_at=close_at,
        cutoff_at=exchange_cutoff(close_at, early_close=early_close),
        early_close=early_close,
    )


def session_on_or_before(calendar: SessionCalendar, day: date) -> date:
    """``day`` if it is a session, else the last session before it.

    For "the trading day of today" when the daemon runs on a weekend or a holiday.
    """
    _check_in_range(calendar, day)
    if calendar.is_session(day):
        return day
    return calendar.previous_session(day)


def expiration_date(calendar: SessionCalendar, listed: date) -> date:
    """The day a contract listed to expire on ``listed`` really expires.

    The listed day if it is a session; otherwise the previous session (Good Friday
    2026-04-03 -> 2026-04-02; a weekly listed on a Saturday -> the Friday, or the Thursday
    when that Friday is a holiday). The OSI symbol of the moved series already carries the
    moved date, so for those this is the identity; it matters for listings keyed by the
    nominal date.
    """
    return session_on_or_before(calendar, listed)


def expires_on(calendar: SessionCalendar, listed: date, day: date) -> bool:
    """Whether a contract listed for ``listed`` expires on ``day``."""
    return expiration_date(calendar, listed) == day


def _check_in_range(calendar: SessionCalendar, day: date) -> None:
    if not calendar.first_day <= day <= calendar.last_day:
        raise CalendarRangeError(day, first_day=calendar.first_day, last_day=calendar.last_day)


def _in_new_york(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got naive {moment.isoformat()}")
    return moment.astimezone(NEW_YORK)
