"""The daemon's day as date arithmetic: ordinary, early-close, DST and late starts."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from exerciser.domain.calendar import NEW_YORK, ExpiryDay, exchange_cutoff
from exerciser.domain.schedule import ScheduleConfig, Step, day_schedule


def expiry(day: date, close: time) -> ExpiryDay:
    close_at = datetime.combine(day, close, tzinfo=NEW_YORK)
    early = close < time(16)
    return ExpiryDay(
        day=day,
        open_at=datetime.combine(day, time(9, 30), tzinfo=NEW_YORK),
        close_at=close_at,
        cutoff_at=exchange_cutoff(close_at, early_close=early),
        early_close=early,
    )


def ny(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=NEW_YORK)


REGULAR = date(2026, 11, 20)
EARLY = date(2026, 11, 27)
SUMMER = date(2026, 6, 18)


@pytest.mark.parametrize(
    ("day", "close", "expected"),
    [
        pytest.param(
            REGULAR,
            time(16),
            {
                Step.MORNING_CHECK: (ny(REGULAR, 9, 0), ny(REGULAR, 15, 30)),
                Step.PREVIEW: (ny(REGULAR, 15, 30), ny(REGULAR, 16, 0)),
                Step.CAPTURE: (ny(REGULAR, 16, 0, 30), ny(REGULAR, 16, 10)),
                Step.SUBMIT: (ny(REGULAR, 16, 10), ny(REGULAR, 17, 0)),
                Step.REPORT: (ny(REGULAR, 17, 0), ny(REGULAR, 17, 30)),
            },
            id="regular-day",
        ),
        pytest.param(
            EARLY,
            time(13),
            {
                Step.MORNING_CHECK: (ny(EARLY, 9, 0), ny(EARLY, 12, 30)),
                Step.PREVIEW: (ny(EARLY, 12, 30), ny(EARLY, 13, 0)),
                Step.CAPTURE: (ny(EARLY, 13, 0, 30), ny(EARLY, 13, 10)),
                Step.SUBMIT: (ny(EARLY, 13, 10), ny(EARLY, 14, 0)),
                Step.REPORT: (ny(EARLY, 14, 0), ny(EARLY, 14, 30)),
            },
            id="early-close-day",
        ),
        pytest.param(
            SUMMER,
            time(16),
            {
                Step.SUBMIT: (ny(SUMMER, 16, 10), ny(SUMMER, 17, 0)),
            },
            id="juneteenth-eve-in-summer-time",
        ),
    ],
)
def test_steps_and_deadlines(
    day: date, close: time, expected: dict[Step, tuple[datetime, datetime]]
) -> None:
    schedule = day_schedule(expiry(day, close), ScheduleConfig())
    steps = {s.step: (s.at, s.deadline) for s in schedule.steps}
    for step, when in expected.items():
        assert steps[step] == when


def test_summer_times_are_four_hours_behind_utc_and_winter_five() -> None:
    summer = day_schedule(expiry(SUMMER, time(16)), ScheduleConfig())
    winter = day_schedule(expiry(REGULAR, time(16)), ScheduleConfig())
    assert summer.internal_cutoff.utcoffset() == timedelta(hours=-4)
    assert winter.internal_cutoff.utcoffset() == timedelta(hours=-5)


def test_reevaluations_run_every_interval_until_the_internal_cutoff() -> None:
    config = ScheduleConfig(reevaluate=True, reevaluate_every=timedelta(minutes=15))
    schedule = day_schedule(expiry(REGULAR, time(16)), config)
    times = [s.at for s in schedule.steps if s.step is Step.REEVALUATE]
    assert times == [ny(REGULAR, 16, 25), ny(REGULAR, 16, 40), ny(REGULAR, 16, 55)]
    assert all(s.deadline == ny(REGULAR, 17, 0) for s in schedule.steps if s.step.sends)


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (ny(REGULAR, 8, 0), ["morning_check", "preview", "capture", "submit", "report"]),
        (ny(REGULAR, 15, 45), ["preview", "capture", "submit", "report"]),
        (ny(REGULAR, 16, 30), ["submit", "report"]),
        (ny(REGULAR, 17, 0), ["report"]),
        (ny(REGULAR, 17, 31), []),
    ],
    ids=[
        "before-dawn",
        "late-for-the-preview",
        "after-the-submit-time",
        "at-the-cutoff",
        "after-the-cutoff",
    ],
)
def test_a_late_daemon_runs_what_is_not_past_its_deadline(now: datetime, due: list[str]) -> None:
    config = ScheduleConfig(reevaluate=True)
    schedule = day_schedule(expiry(REGULAR, time(16)), config)
    assert [s.step.value for s in schedule.due(now) if s.step is not Step.REEVALUATE] == due


def test_a_late_daemon_catches_up_one_reevaluation_not_a_backlog() -> None:
    config = ScheduleConfig(reevaluate=True)
    schedule = day_schedule(expiry(REGULAR, time(16)), config)
    due = [s.at for s in schedule.due(ny(REGULAR, 16, 45)) if s.step is Step.REEVALUATE]
    assert due == [ny(REGULAR, 16, 40), ny(REGULAR, 16, 55)]


def test_nothing_that_sends_is_scheduled_after_the_internal_cutoff() -> None:
    config = ScheduleConfig(submit_after_close=timedelta(minutes=80), reevaluate=True)
    schedule = day_schedule(expiry(REGULAR, time(16)), config)
    assert all(s.at <= schedule.internal_cutoff for s in schedule.steps if s.step.sends)
