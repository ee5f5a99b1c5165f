"""The daemon's tick over a fake day runner and a fake clock: which steps run when, on
ordinary, early-close and holiday days, late starts, restarts, retries, quiet days."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine

from exerciser.adapters.clock import system_now
from exerciser.daemon import Daemon
from exerciser.domain.calendar import NEW_YORK
from exerciser.domain.schedule import ScheduleConfig, ScheduledStep, Step

from .fakes import WeekdayCalendar

pytestmark = pytest.mark.anyio

REGULAR = date(2026, 11, 20)
EARLY = date(2026, 11, 27)
THANKSGIVING = date(2026, 11, 26)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Runner:
    """Stands in for DayRunner: records calls; can fail or report a quiet day."""

    def __init__(self, *, expiring: int = 3, failures: int = 0) -> None:
        self.called = asyncio.Event()
        self.calls: list[tuple[str, date]] = []
        self.expiring = expiring
        self.failures = failures

    def _record(self, name: str, day: date) -> None:
        self.calls.append((name, day))
        self.called.set()
        if self.failures:
            self.failures -= 1
            raise RuntimeError("broker down")

    async def morning_check(self, day: date, *, quiet: bool = False) -> int:
        self._record("morning_check" + ("(quiet)" if quiet else ""), day)
        return self.expiring

    async def preview(self, day: date) -> None:
        self._record("preview", day)

    async def capture(self, day: date) -> None:
        self._record("capture", day)

    async def submit(self, day: date) -> None:
        self._record("submit", day)

    async def report(self, day: date) -> None:
        self._record("report", day)


class Notifier:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def ready(self, status: str | None = None) -> None:
        self.messages.append("READY")

    def status(self, text: str) -> None:
        self.messages.append(f"STATUS={text}")

    def watchdog(self) -> None:
        self.messages.append("WATCHDOG")

    def stopping(self, status: str | None = None) -> None:
        self.messages.append("STOPPING")


def make(
    start: datetime | Clock, runner: Runner | None = None, **config: Any
) -> tuple[Daemon, Runner, Clock, list[tuple[ScheduledStep, Exception, int]]]:
    runner = runner or Runner()
    clock = start if isinstance(start, Clock) else Clock(start)
    failures: list[tuple[ScheduledStep, Exception, int]] = []
    daemon = Daemon(
        runner=runner,  # type: ignore[arg-type]
        calendar=WeekdayCalendar(holidays=[THANKSGIVING], early_closes=[EARLY]),
        config=ScheduleConfig(**config),
        clock=clock,
        notifier=Notifier(),
        on_failure=lambda step, exc, n: failures.append((step, exc, n)),
    )
    return daemon, runner, clock, failures


async def play(daemon: Daemon, clock: Clock, until: datetime, step: timedelta) -> None:
    """Tick through the day the way the interval job would."""
    while clock.now <= until:
        await daemon.tick()
        clock.now += step


def ny(day: date, hh: int, mm: int) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=NEW_YORK)


def names(calls: Sequence[tuple[str, date]]) -> list[str]:
    return [name for name, _ in calls]


async def test_an_ordinary_day_runs_every_step_once_in_order() -> None:
    daemon, runner, clock, _ = make(ny(REGULAR, 8, 0))
    await play(daemon, clock, ny(REGULAR, 18, 0), timedelta(seconds=15))
    assert names(runner.calls) == ["morning_check", "preview", "capture", "submit", "report"]


async def test_steps_start_at_their_times() -> None:
    daemon, runner, clock, _ = make(ny(REGULAR, 8, 0))
    seen: dict[str, datetime] = {}
    while clock.now <= ny(REGULAR, 18, 0):
        before = len(runner.calls)
        await daemon.tick()
        if len(runner.calls) > before:
            seen[runner.calls[-1][0]] = clock.now
        clock.now += timedelta(seconds=15)
    assert seen["preview"] == ny(REGULAR, 15, 30)
    assert seen["submit"] == ny(REGULAR, 16, 10)
    assert seen["report"] == ny(REGULAR, 17, 0)


async def test_an_early_close_moves_the_afternoon() -> None:
    daemon, runner, clock, _ = make(ny(EARLY, 12, 0))
    times = []
    while clock.now <= ny(EARLY, 15, 0):
        before = len(runner.calls)
        await daemon.tick()
        if len(runner.calls) > before:
            times.append((runner.calls[-1][0], clock.now.time()))
        clock.now += timedelta(seconds=15)
    assert times == [
        ("morning_check", time(12, 0)),  # started late: still before the preview
        ("preview", time(12, 30)),
        ("capture", time(13, 0, 30)),
        ("submit", time(13, 10)),
        ("report", time(14, 0)),
    ]


async def test_a_holiday_runs_nothing() -> None:
    daemon, runner, clock, _ = make(ny(THANKSGIVING, 8, 0))
    await play(daemon, clock, ny(THANKSGIVING, 18, 0), timedelta(minutes=1))
    assert runner.calls == []


async def test_a_late_start_runs_only_what_is_still_useful() -> None:
    daemon, runner, clock, _ = make(ny(REGULAR, 16, 30))
    await play(daemon, clock, ny(REGULAR, 18, 0), timedelta(seconds=15))
    assert names(runner.calls) == ["submit", "report"]


async def test_nothing_is_submitted_after_the_internal_cutoff() -> None:
    daemon, runner, clock, _ = make(ny(REGULAR, 17, 0))
    await play(daemon, clock, ny(REGULAR, 18, 0), timedelta(seconds=15))
    assert names(runner.calls) == ["report"]


async def test_a_restart_mid_day_resumes_the_steps_still_due() -> None:
    first, runner, clock, _ = make(ny(REGULAR, 16, 9))
    await play(first, clock, ny(REGULAR, 16, 12), timedelta(seconds=15))
    assert names(runner.calls) == ["capture", "submit"]
    second, _, _, _ = make(clock, runner)
    await play(second, clock, ny(REGULAR, 17, 5), timedelta(seconds=15))
    # the new process re-runs submit (it resumes from the journal) and the report
    assert names(runner.calls) == ["capture", "submit", "submit", "report"]


async def test_a_failing_step_is_retried_with_backoff_and_reported() -> None:
    daemon, runner, clock, failures = make(ny(REGULAR, 16, 10), Runner(failures=2))
    await play(daemon, clock, ny(REGULAR, 16, 20), timedelta(seconds=15))
    submits = [t for t in names(runner.calls) if t == "submit"]
    assert len(submits) == 3  # failed, failed (after 1 min), done (after 2 more)
    assert [n for _, _, n in failures] == [1, 2]
    assert all(s.step is Step.SUBMIT for s, _, _ in failures)


async def test_a_quiet_day_looks_again_before_submitting() -> None:
    daemon, runner, clock, _ = make(ny(REGULAR, 8, 0), Runner(expiring=0))
    await play(daemon, clock, ny(REGULAR, 18, 0), timedelta(seconds=15))
    assert names(runner.calls) == ["morning_check", "morning_check(quiet)"]


async def test_reevaluation_steps_run_between_submit_and_cutoff() -> None:
    daemon, runner, clock, _ = make(ny(REGULAR, 16, 0), reevaluate=True)
    await play(daemon, clock, ny(REGULAR, 17, 10), timedelta(seconds=15))
    assert names(runner.calls) == ["capture", "submit", "submit", "submit", "submit", "report"]


async def test_run_says_ready_then_stopping_and_ticks() -> None:
    daemon, runner, _, _ = make(ny(REGULAR, 16, 10))
    notifier = daemon._notifier
    stop = asyncio.Event()

    async def stop_after_first_submit() -> None:
        await runner.called.wait()
        stop.set()

    await asyncio.gather(daemon.run(stop), stop_after_first_submit())
    assert isinstance(notifier, Notifier)
    assert notifier.messages[0] == "READY"
    assert notifier.messages[-1] == "STOPPING"
    assert names(runner.calls) == ["submit"]


async def test_a_tick_or_beat_that_runs_after_stopping_does_nothing() -> None:
    """APScheduler's shutdown takes effect on a later turn of the loop, so a tick or a
    beat it has already queued can run after ``run`` said STOPPING (a CI run saw a
    WATCHDOG after it): they must neither ping nor start a step."""
    daemon, runner, clock, _ = make(ny(REGULAR, 16, 10))
    notifier = daemon._notifier
    assert isinstance(notifier, Notifier)
    stop = asyncio.Event()

    async def stop_after_first_submit() -> None:
        await runner.called.wait()
        stop.set()

    await asyncio.gather(daemon.run(stop), stop_after_first_submit())
    said = list(notifier.messages)
    assert said[-1] == "STOPPING"
    clock.now = ny(REGULAR, 17, 0)  # the report is due now

    await daemon.beat()
    assert await daemon.tick() == []

    assert notifier.messages == said
    assert names(runner.calls) == ["submit"]


async def test_the_real_clock_adapter_drives_the_tick_under_time_machine() -> None:
    """The daemon reads the wall clock only through the clock adapter: moved by
    time-machine to 16:10 New York on an expiration day, the tick runs the submit."""
    runner = Runner()
    daemon = Daemon(
        runner=runner,  # type: ignore[arg-type]
        calendar=WeekdayCalendar(holidays=[THANKSGIVING], early_closes=[EARLY]),
        config=ScheduleConfig(),
        clock=system_now,
        notifier=Notifier(),
    )
    with time_machine.travel(ny(REGULAR, 16, 10), tick=False):
        await daemon.tick()
    assert names(runner.calls) == ["submit"]  # the capture's deadline is the submit time
    with time_machine.travel(ny(THANKSGIVING, 16, 10), tick=False):
        assert await daemon.tick() == []
