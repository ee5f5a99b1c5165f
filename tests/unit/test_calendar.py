"""Expiry calendar math over a hand-written session calendar: the holiday shift, the
exchange cutoff on regular and early-close days, DST-correct times, and range errors."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exerciser.domain.calendar import (
    NEW_YORK,
    CalendarRangeError,
    NotASessionError,
    SessionCalendar,
    exchange_cutoff,
    expiration_date,
    expires_on,
    expiry_day,
    is_early_close,
    session_on_or_before,
)

FIRST_DAY = date(2026, 3, 1)  # a Sunday: the first session is Monday 2026-03-02
FIRST_SESSION = date(2026, 3, 2)
LAST_DAY = date(2027, 1, 10)  # a Sunday: the last session is Friday 2027-01-08
LAST_SESSION = date(2027, 1, 8)

HOLIDAYS = frozenset(
    {
        date(2026, 4, 3),  # Good Friday
        date(2026, 5, 25),  # Memorial Day
        date(2026, 6, 19),  # Juneteenth
        date(2026, 7, 3),  # Independence Day observed
        date(2026, 9, 7),  # Labor Day
        date(2026, 11, 26),  # Thanksgiving
        date(2026, 12, 25),  # Christmas
        date(2027, 1, 1),  # New Year's Day
    }
)
EARLY_CLOSES = frozenset({date(2026, 11, 27), date(2026, 12, 24)})


def day_range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def written_sessions() -> dict[date, tuple[time, time]]:
    """NYSE-like sessions: weekdays minus the holidays above, 09:30 to 16:00 or 13:00."""
    return {
        day: (time(9, 30), time(13, 0) if day in EARLY_CLOSES else time(16, 0))
        for day in day_range(FIRST_DAY, LAST_DAY)
        if day.weekday() < 5 and day not in HOLIDAYS
    }


@dataclass(frozen=True)
class FakeCalendar:
    """A ``SessionCalendar`` over written-out sessions (local open and close times)."""

    name: str = "FAKE"
    first_day: date = FIRST_DAY
    last_day: date = LAST_DAY
    sessions: Mapping[date, tuple[time, time]] = field(default_factory=written_sessions)

    def is_session(self, day: date) -> bool:
        self._check(day)
        return day in self.sessions

    def previous_session(self, day: date) -> date:
        self._check(day)
        ordered = sorted(self.sessions)
        index = bisect_left(ordered, day)
        if index == 0:
            raise CalendarRangeError(day, first_day=self.first_day, last_day=self.last_day)
        return ordered[index - 1]

    def next_session(self, day: date) -> date:
        self._check(day)
        ordered = sorted(self.sessions)
        index = bisect_right(ordered, day)
        if index == len(ordered):
            raise CalendarRangeError(day, first_day=self.first_day, last_day=self.last_day)
        return ordered[index]

    def session_open(self, day: date) -> datetime:
        return datetime.combine(day, self._times(day)[0], tzinfo=NEW_YORK)

    def session_close(self, day: date) -> datetime:
        return datetime.combine(day, self._times(day)[1], tzinfo=NEW_YORK)

    def _times(self, day: date) -> tuple[time, time]:
        self._check(day)
        if day not in self.sessions:
            raise NotASessionError(day, calendar=self.name)
        return self.sessions[day]

    def _check(self, day: date) -> None:
        if not self.first_day <= day <= self.last_day:
            raise CalendarRangeError(day, first_day=self.first_day, last_day=self.last_day)


CALENDAR: SessionCalendar = FakeCalendar()


def ny(day: date, hour: int, minute: int = 0) -> datetime:
    """``hour:minute`` New York time on ``day``."""
    return datetime.combine(day, time(hour, minute), tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        pytest.param(date(2026, 11, 20), date(2026, 11, 20), id="session-is-itself"),
        pytest.param(date(2026, 12, 24), date(2026, 12, 24), id="early-close-session-is-itself"),
        pytest.param(date(2026, 4, 3), date(2026, 4, 2), id="good-friday-to-thursday"),
        pytest.param(date(2026, 6, 19), date(2026, 6, 18), id="juneteenth-monthly"),
        pytest.param(date(2026, 7, 3), date(2026, 7, 2), id="independence-day-observed"),
        pytest.param(date(2026, 11, 26), date(2026, 11, 25), id="thanksgiving-daily"),
        pytest.param(date(2026, 12, 25), date(2026, 12, 24), id="christmas-to-early-close"),
        pytest.param(date(2027, 1, 1), date(2026, 12, 31), id="new-year-into-previous-year"),
        pytest.param(date(2026, 11, 21), date(2026, 11, 20), id="saturday-weekly-to-friday"),
        pytest.param(date(2026, 11, 22), date(2026, 11, 20), id="sunday-to-friday"),
        pytest.param(date(2026, 11, 28), date(2026, 11, 27), id="saturday-after-early-close"),
        pytest.param(date(2026, 4, 4), date(2026, 4, 2), id="saturday-after-good-friday"),
        pytest.param(date(2026, 9, 7), date(2026, 9, 4), id="monday-holiday-to-friday"),
        pytest.param(FIRST_SESSION, FIRST_SESSION, id="first-session-of-range"),
        pytest.param(LAST_DAY, LAST_SESSION, id="last-day-of-range-is-sunday"),
    ],
)
def test_expiration_moves_to_the_previous_session(listed: date, expected: date) -> None:
    assert expiration_date(CALENDAR, listed) == expected


@pytest.mark.parametrize(
    ("listed", "day", "expected"),
    [
        pytest.param(date(2026, 4, 3), date(2026, 4, 2), True, id="moved-expiry-matches"),
        pytest.param(date(2026, 4, 3), date(2026, 4, 3), False, id="nominal-holiday-does-not"),
        pytest.param(date(2026, 11, 20), date(2026, 11, 20), True, id="regular-friday"),
        pytest.param(date(2026, 11, 20), date(2026, 11, 19), False, id="day-before"),
        pytest.param(date(2026, 11, 21), date(2026, 11, 20), True, id="saturday-listing"),
        pytest.param(date(2027, 1, 1), date(2026, 12, 31), True, id="across-year-end"),
    ],
)
def test_expires_on_compares_the_moved_date(listed: date, day: date, expected: bool) -> None:
    assert expires_on(CALENDAR, listed, day) is expected


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        pytest.param(date(2026, 11, 23), date(2026, 11, 23), id="monday-is-itself"),
        pytest.param(date(2026, 11, 21), date(2026, 11, 20), id="saturday-to-friday"),
        pytest.param(date(2026, 11, 26), date(2026, 11, 25), id="holiday-to-eve"),
    ],
)
def test_session_on_or_before_gives_the_trading_day_of_today(today: date, expected: date) -> None:
    assert session_on_or_before(CALENDAR, today) == expected


@pytest.mark.parametrize(
    ("day", "close", "cutoff", "early_close"),
    [
        pytest.param(date(2026, 11, 20), time(16), time(17, 30), False, id="regular-day-1730"),
        pytest.param(date(2026, 11, 27), time(13), time(14, 30), True, id="black-friday-1430"),
        pytest.param(date(2026, 12, 24), time(13), time(14, 30), True, id="christmas-eve-1430"),
    ],
)
def test_expiry_day_close_and_cutoff(
    day: date, close: time, cutoff: time, early_close: bool
) -> None:
    expiry = expiry_day(CALENDAR, day)
    assert expiry.day == day
    assert expiry.open_at == datetime.combine(day, time(9, 30), tzinfo=NEW_YORK)
    assert expiry.close_at == datetime.combine(day, close, tzinfo=NEW_YORK)
    assert expiry.cutoff_at == datetime.combine(day, cutoff, tzinfo=NEW_YORK)
    assert expiry.early_close is early_close
    assert expiry.cutoff_at.tzinfo is NEW_YORK


@pytest.mark.parametrize(
    ("day", "utc_offset", "open_utc", "close_utc", "cutoff_utc"),
    [
        pytest.param(date(2026, 3, 6), -5, "14:30", "21:00", "22:30", id="last-est-friday"),
        pytest.param(date(2026, 3, 9), -4, "13:30", "20:00", "21:30", id="first-edt-session"),
        pytest.param(date(2026, 10, 30), -4, "13:30", "20:00", "21:30", id="last-edt-friday"),
        pytest.param(date(2026, 11, 2), -5, "14:30", "21:00", "22:30", id="first-est-session"),
    ],
)
def test_times_carry_the_utc_offset_of_their_own_day(
    day: date, utc_offset: int, open_utc: str, close_utc: str, cutoff_utc: str
) -> None:
    """Clocks change on Sundays 2026-03-08 and 2026-11-01; the next session must follow."""
    expiry = expiry_day(CALENDAR, day)
    for moment in (expiry.open_at, expiry.close_at, expiry.cutoff_at):
        assert moment.utcoffset() == timedelta(hours=utc_offset)
    assert expiry.open_at.astimezone(UTC).strftime("%H:%M") == open_utc
    assert expiry.close_at.astimezone(UTC).strftime("%H:%M") == close_utc
    assert expiry.cutoff_at.astimezone(UTC).strftime("%H:%M") == cutoff_utc


@pytest.mark.parametrize(
    ("close_at", "early_close", "expected"),
    [
        pytest.param(
            ny(date(2026, 11, 20), 16), False, ny(date(2026, 11, 20), 17, 30), id="regular"
        ),
        pytest.param(ny(date(2026, 11, 27), 13), True, ny(date(2026, 11, 27), 14, 30), id="early"),
        pytest.param(
            datetime(2026, 11, 27, 18, tzinfo=UTC),
            True,
            ny(date(2026, 11, 27), 14, 30),
            id="early-close-given-in-utc",
        ),
        pytest.param(
            datetime(2026, 7, 2, 20, tzinfo=UTC),
            False,
            ny(date(2026, 7, 2), 17, 30),
            id="regular-close-given-in-utc",
        ),
        pytest.param(
            datetime(2026, 11, 21, 2, tzinfo=UTC),
            False,
            ny(date(2026, 11, 20), 17, 30),
            id="utc-date-differs-from-new-york-date",
        ),
    ],
)
def test_exchange_cutoff(close_at: datetime, early_close: bool, expected: datetime) -> None:
    cutoff = exchange_cutoff(close_at, early_close=early_close)
    assert cutoff == expected
    assert cutoff.tzinfo is NEW_YORK


def test_exchange_cutoff_refuses_a_naive_close() -> None:
    with pytest.raises(ValueError, match="aware"):
        exchange_cutoff(datetime(2026, 11, 20, 16), early_close=False)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("close_at", "expected"),
    [
        pytest.param(ny(date(2026, 11, 20), 16), False, id="1600-regular"),
        pytest.param(ny(date(2026, 11, 27), 13), True, id="1300-early"),
        pytest.param(ny(date(2026, 11, 27), 15, 59), True, id="a-minute-early"),
        pytest.param(datetime(2026, 11, 27, 18, tzinfo=UTC), True, id="judged-in-new-york-time"),
    ],
)
def test_is_early_close(close_at: datetime, expected: bool) -> None:
    assert is_early_close(close_at) is expected


@pytest.mark.parametrize(
    "day",
    [
        pytest.param(date(2026, 11, 26), id="holiday"),
        pytest.param(date(2026, 11, 21), id="saturday"),
    ],
)
def test_expiry_day_of_a_non_session_names_the_day(day: date) -> None:
    expected = f"^{day.isoformat()} is not a trading session \\(FAKE\\)$"
    with pytest.raises(NotASessionError, match=expected) as raised:
        expiry_day(CALENDAR, day)
    assert raised.value.day == day


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda day: expiration_date(CALENDAR, day), id="expiration_date"),
        pytest.param(lambda day: expires_on(CALENDAR, day, day), id="expires_on"),
        pytest.param(lambda day: expiry_day(CALENDAR, day), id="expiry_day"),
        pytest.param(lambda day: session_on_or_before(CALENDAR, day), id="session_on_or_before"),
    ],
)
@pytest.mark.parametrize(
    "day",
    [
        pytest.param(FIRST_DAY - timedelta(days=1), id="day-before-range"),
        pytest.param(LAST_DAY + timedelta(days=1), id="day-after-range"),
        pytest.param(date(2030, 1, 1), id="years-after-range"),
    ],
)
def test_a_day_outside_the_range_is_refused(call: Callable[[date], object], day: date) -> None:
    expected = f"^{day.isoformat()} is outside the calendar range 2026-03-01 to 2027-01-10$"
    with pytest.raises(CalendarRangeError, match=expected) as raised:
        call(day)
    assert (raised.value.first_day, raised.value.last_day) == (FIRST_DAY, LAST_DAY)


def test_a_shift_that_would_leave_the_range_is_refused() -> None:
    """The first day of the range is a Sunday: its previous session is unknown, not guessed."""
    with pytest.raises(CalendarRangeError):
        expiration_date(CALENDAR, FIRST_DAY)


listed_days = st.dates(min_value=FIRST_SESSION, max_value=LAST_DAY)


@given(listed=listed_days)
def test_expiration_is_the_last_session_on_or_before_the_listed_day(listed: date) -> None:
    expiry = expiration_date(CALENDAR, listed)
    assert CALENDAR.is_session(expiry)
    assert expiry <= listed
    between = day_range(expiry + timedelta(days=1), listed)
    assert not any(CALENDAR.is_session(day) for day in between)
    assert expiration_date(CALENDAR, expiry) == expiry
    assert expires_on(CALENDAR, listed, expiry)


@given(listed=listed_days)
def test_every_expiry_day_opens_closes_then_cuts_off(listed: date) -> None:
    expiry = expiry_day(CALENDAR, expiration_date(CALENDAR, listed))
    assert expiry.open_at < expiry.close_at < expiry.cutoff_at
    assert expiry.cutoff_at.date() == expiry.day
    if expiry.early_close:
        assert expiry.cutoff_at - expiry.close_at == timedelta(minutes=90)
    else:
        assert expiry.cutoff_at.time() == time(17, 30)
