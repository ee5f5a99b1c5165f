"""The real NYSE calendar (exchange-calendars) gives the expirations and cutoffs of the
known holiday and early-close cases, in New York time, over an explicit range."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from exerciser.adapters.calendar import XnysCalendar
from exerciser.domain.calendar import (
    NEW_YORK,
    CalendarRangeError,
    NotASessionError,
    SessionCalendar,
    expiration_date,
    expires_on,
    expiry_day,
)

START = date(2025, 11, 21)
END = date(2028, 11, 21)


@pytest.fixture(scope="module")
def xnys() -> SessionCalendar:
    """Built once: constructing an exchange calendar takes a noticeable moment."""
    return XnysCalendar(start=START, end=END)


@pytest.mark.parametrize(
    ("listed", "expected"),
    [
        pytest.param(date(2026, 4, 3), date(2026, 4, 2), id="good-friday-2026"),
        pytest.param(date(2026, 6, 19), date(2026, 6, 18), id="juneteenth-2026"),
        pytest.param(date(2026, 7, 3), date(2026, 7, 2), id="independence-observed-2026"),
        pytest.param(date(2026, 12, 25), date(2026, 12, 24), id="christmas-2026"),
        pytest.param(date(2027, 1, 1), date(2026, 12, 31), id="new-year-2027"),
        pytest.param(date(2027, 3, 26), date(2027, 3, 25), id="good-friday-2027"),
        pytest.param(date(2027, 6, 18), date(2027, 6, 17), id="juneteenth-observed-2027"),
        pytest.param(date(2026, 11, 20), date(2026, 11, 20), id="regular-monthly-is-itself"),
        pytest.param(date(2026, 11, 28), date(2026, 11, 27), id="saturday-weekly"),
        pytest.param(date(2028, 11, 17), date(2028, 11, 17), id="two-years-ahead"),
    ],
)
def test_known_expirations(xnys: SessionCalendar, listed: date, expected: date) -> None:
    assert expiration_date(xnys, listed) == expected
    assert expires_on(xnys, listed, expected)


@pytest.mark.parametrize(
    ("day", "close", "cutoff", "early_close"),
    [
        pytest.param(date(2026, 11, 20), time(16), time(17, 30), False, id="regular-2026-11-20"),
        pytest.param(date(2026, 11, 27), time(13), time(14, 30), True, id="black-friday-2026"),
        pytest.param(date(2026, 12, 24), time(13), time(14, 30), True, id="christmas-eve-2026"),
        pytest.param(date(2026, 12, 31), time(16), time(17, 30), False, id="new-years-eve-2026"),
        pytest.param(date(2028, 11, 17), time(16), time(17, 30), False, id="two-years-ahead"),
    ],
)
def test_close_and_cutoff_in_new_york_time(
    xnys: SessionCalendar, day: date, close: time, cutoff: time, early_close: bool
) -> None:
    expiry = expiry_day(xnys, day)
    assert expiry.open_at == datetime.combine(day, time(9, 30), tzinfo=NEW_YORK)
    assert expiry.close_at == datetime.combine(day, close, tzinfo=NEW_YORK)
    assert expiry.cutoff_at == datetime.combine(day, cutoff, tzinfo=NEW_YORK)
    assert expiry.early_close is early_close
    assert expiry.close_at.tzinfo is NEW_YORK


@pytest.mark.parametrize(
    ("day", "close_utc", "cutoff_utc"),
    [
        pytest.param(date(2026, 3, 9), "20:00", "21:30", id="first-edt-session"),
        pytest.param(date(2026, 11, 2), "21:00", "22:30", id="first-est-session"),
    ],
)
def test_library_utc_times_land_on_the_right_local_hour_across_dst(
    xnys: SessionCalendar, day: date, close_utc: str, cutoff_utc: str
) -> None:
    expiry = expiry_day(xnys, day)
    assert expiry.close_at.time() == time(16)
    assert expiry.close_at.astimezone(UTC).strftime("%H:%M") == close_utc
    assert expiry.cutoff_at.astimezone(UTC).strftime("%H:%M") == cutoff_utc


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param(date(2026, 11, 26), False, id="thanksgiving"),
        pytest.param(date(2026, 11, 28), False, id="saturday"),
        pytest.param(date(2026, 11, 27), True, id="early-close-is-a-session"),
        pytest.param(date(2026, 7, 2), True, id="eve-of-observed-holiday"),
    ],
)
def test_is_session(xnys: SessionCalendar, day: date, expected: bool) -> None:
    assert xnys.is_session(day) is expected


@pytest.mark.parametrize(
    ("day", "previous", "following"),
    [
        pytest.param(date(2026, 11, 26), date(2026, 11, 25), date(2026, 11, 27), id="holiday"),
        pytest.param(date(2026, 11, 20), date(2026, 11, 19), date(2026, 11, 23), id="friday"),
        pytest.param(date(2026, 12, 31), date(2026, 12, 30), date(2027, 1, 4), id="year-end"),
    ],
)
def test_neighbouring_sessions_are_strict(
    xnys: SessionCalendar, day: date, previous: date, following: date
) -> None:
    assert xnys.previous_session(day) == previous
    assert xnys.next_session(day) == following


def test_a_non_session_has_no_hours(xnys: SessionCalendar) -> None:
    message = r"^2026-11-26 is not a trading session \(XNYS\)$"
    with pytest.raises(NotASessionError, match=message):
        xnys.session_close(date(2026, 11, 26))
    with pytest.raises(NotASessionError, match=message):
        expiry_day(xnys, date(2026, 11, 26))


@pytest.mark.parametrize(
    "day",
    [
        pytest.param(END + timedelta(days=1), id="day-after-end"),
        pytest.param(date(2029, 6, 15), id="beyond-range"),
        pytest.param(START - timedelta(days=1), id="day-before-start"),
    ],
)
def test_a_day_outside_the_range_raises(xnys: SessionCalendar, day: date) -> None:
    expected = f"^{day.isoformat()} is outside the calendar range 2025-11-21 to 2028-11-21$"
    with pytest.raises(CalendarRangeError, match=expected):
        xnys.is_session(day)
    with pytest.raises(CalendarRangeError, match=expected):
        expiration_date(xnys, day)


def test_neighbours_beyond_the_edges_raise(xnys: SessionCalendar) -> None:
    """2025-11-21 and 2028-11-21 are sessions and the range's own ends."""
    with pytest.raises(CalendarRangeError):
        xnys.previous_session(START)
    with pytest.raises(CalendarRangeError):
        xnys.next_session(END)


def test_start_after_end_is_refused() -> None:
    with pytest.raises(ValueError, match="after its end"):
        XnysCalendar(start=date(2027, 1, 1), end=date(2026, 1, 1))


def test_around_covers_two_years_ahead_with_margin() -> None:
    calendar = XnysCalendar.around(date(2026, 11, 21))
    assert calendar.first_day <= date(2025, 11, 21)
    assert calendar.last_day >= date(2028, 11, 21)
    assert expiration_date(calendar, date(2028, 11, 25)) == date(2028, 11, 24)  # a Saturday


def test_around_today_reaches_two_years_ahead() -> None:
    with time_machine.travel(datetime(2026, 11, 21, 12, tzinfo=UTC), tick=False):
        today = datetime.now(NEW_YORK).date()
        calendar = XnysCalendar.around(today)
    assert today == date(2026, 11, 21)
    assert expiry_day(calendar, date(2028, 11, 17)).close_at.hour == 16


def test_around_a_leap_day() -> None:
    calendar = XnysCalendar.around(date(2028, 2, 29), years_back=0, years_ahead=1)
    assert calendar.first_day <= date(2028, 2, 29) < date(2029, 2, 28) <= calendar.last_day


def test_unscheduled_closures_come_from_the_library_data() -> None:
    """National days of mourning: a weekday that is not a session, and the shift follows."""
    calendar = XnysCalendar(start=date(2018, 11, 26), end=date(2025, 1, 17))
    assert not calendar.is_session(date(2018, 12, 5))
    assert not calendar.is_session(date(2025, 1, 9))
    assert expiration_date(calendar, date(2025, 1, 9)) == date(2025, 1, 8)


@given(listed=st.dates(min_value=date(2025, 11, 24), max_value=END - timedelta(days=7)))
def test_expiration_is_the_last_session_on_or_before_the_listed_day(
    xnys: SessionCalendar, listed: date
) -> None:
    expiry = expiration_date(xnys, listed)
    assert xnys.is_session(expiry)
    assert expiry <= listed
    assert expiry.weekday() < 5
    assert xnys.next_session(expiry) > listed
    hours = expiry_day(xnys, expiry)
    assert hours.open_at.time() == time(9, 30)
    assert hours.close_at.time() in {time(13), time(16)}
