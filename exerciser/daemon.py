"""``exerciser daemon``: run every expiration day's steps, unattended.

Timers are not trusted. A tick (every ``tick_seconds``, APScheduler interval job) asks the
pure day schedule which steps are due *now* — time reached, deadline not passed, not yet
done by this process — and runs them one at a time. So a clock jump, a misfire, a late
start or a restart mid-day all come down to the same question at the next tick; a step
whose deadline passed is skipped, and nothing that sends runs after the internal cutoff.
Steps are safe to run again (see ``services/day.py``), so a restart simply re-runs
what is still due. A heartbeat job pings the systemd watchdog and delivers alerts.

A failing step is retried with backoff (1, 2, 4 ... 10 minutes) until its deadline; the
hook hears every failure, with the count of consecutive ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Protocol

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from exerciser.domain.calendar import NEW_YORK, SessionCalendar, expiry_day
from exerciser.domain.schedule import DaySchedule, ScheduleConfig, ScheduledStep, Step, day_schedule
from exerciser.ports import Clock
from exerciser.services.day import DayRunner

log = structlog.get_logger("exerciser.daemon")

_RETRY_FIRST = timedelta(minutes=1)
_RETRY_MAX = timedelta(minutes=10)


class Notifier(Protocol):
    def ready(self, status: str | None = None) -> None: ...
    def status(self, text: str) -> None: ...
    def watchdog(self) -> None: ...
    def stopping(self, status: str | None = None) -> None: ...


FailureHook = Callable[[ScheduledStep, Exception, int], None]


class Daemon:
    def __init__(
        self,
        *,
        runner: DayRunner,
        calendar: SessionCalendar,
        config: ScheduleConfig,
        clock: Clock,
        notifier: Notifier,
        heartbeat: Callable[[], Awaitable[object]] | None = None,
        on_failure: FailureHook | None = None,
        tick_seconds: float = 15.0,
        heartbeat_seconds: float = 15.0,
    ) -> None:
        self._runner = runner
        self._calendar = calendar
        self._config = config
        self._clock = clock
        self._notifier = notifier
        self._heartbeat = heartbeat
        self._on_failure = on_failure
        self._tick_seconds = tick_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self._schedules: dict[date, DaySchedule | None] = {}
        self._done: set[str] = set()
        self._retry_at: dict[str, datetime] = {}
        self._failures = 0
        self._quiet: set[date] = set()
        self._busy = asyncio.Lock()
        # Set when run() begins to stop. APScheduler's shutdown takes effect on a later
        # turn of the loop, so a tick or beat it has already queued can still run after
        # STOPPING: they see this and do nothing.
        self._stopping = False

    # ------------------------------------------------------------------ ticking

    def schedule_for(self, day: date) -> DaySchedule | None:
        """The day's schedule, or None when the exchange does not open that day."""
        if day not in self._schedules:
            if self._calendar.is_session(day):
                schedule = day_schedule(expiry_day(self._calendar, day), self._config)
                self._schedules[day] = schedule
                steps = [f"{s.step.value}@{s.at:%H:%M:%S}" for s in schedule.steps]
                log.info("day_scheduled", business_date=day.isoformat(), steps=steps)
            else:
                self._schedules[day] = None
                log.info("no_session", day=day.isoformat())
        return self._schedules[day]

    async def tick(self) -> list[Step]:
        """Run the steps due now, one at a time. Returns the steps run (tests use it)."""
        if self._stopping or self._busy.locked():
            # Stopping: start nothing. Busy: a long step (submit, reconcile) holds the day.
            return []
        async with self._busy:
            ran: list[Step] = []
            now = self._clock()
            schedule = self.schedule_for(now.astimezone(NEW_YORK).date())
            if schedule is None:
                return ran
            for step in schedule.due(now):
                now = self._clock()
                if step.at > now or step.job_id in self._done:
                    continue
                if self._retry_at.get(step.job_id, step.at) > now:
                    continue
                if now >= step.deadline:
                    log.warning(
                        "step_too_late", step=step.step.value, deadline=step.deadline.isoformat()
                    )
                    self._done.add(step.job_id)
                    continue
                await self._run(schedule, step)
                ran.append(step.step)
            return ran

    async def _run(self, schedule: DaySchedule, step: ScheduledStep) -> None:
        day = schedule.day.day
        structlog.contextvars.bind_contextvars(step=step.step.value, business_date=day.isoformat())
        log.info("step_started", at=step.at.isoformat())
        try:
            await self._dispatch(day, step.step)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the daemon must outlive any one step
            self._failures += 1
            wait = min(_RETRY_MAX, _RETRY_FIRST * 2 ** (self._failures - 1))
            self._retry_at[step.job_id] = self._clock() + wait
            log.exception("step_failed", failures=self._failures, retry_in_s=wait.total_seconds())
            if self._on_failure is not None:
                self._on_failure(step, exc, self._failures)
        else:
            self._failures = 0
            self._done.add(step.job_id)
            log.info("step_done")
            self._notifier.status(f"{step.step.value} done for {day.isoformat()}")
        finally:
            structlog.contextvars.unbind_contextvars("step", "business_date")

    async def _dispatch(self, day: date, step: Step) -> None:
        runner = self._runner
        if step is Step.MORNING_CHECK:
            if await runner.morning_check(day) == 0:
                self._quiet.add(day)
        elif step in (Step.PREVIEW, Step.CAPTURE):
            if day not in self._quiet:
                await (runner.preview(day) if step is Step.PREVIEW else runner.capture(day))
        elif step.sends:
            # A quiet morning may have become a busy evening (0DTE trades): look again.
            if day in self._quiet and await runner.morning_check(day, quiet=True) == 0:
                return
            self._quiet.discard(day)
            await runner.submit(day)
        elif day not in self._quiet:
            await runner.report(day)

    async def beat(self) -> None:
        if self._stopping:
            return
        self._notifier.watchdog()
        if self._heartbeat is not None:
            try:
                await self._heartbeat()
            except Exception:  # alert delivery failing must not stop the daemon
                log.exception("heartbeat_failed")

    # ------------------------------------------------------------------- running

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: tick and beat on APScheduler interval jobs."""
        self._stopping = False
        scheduler = AsyncIOScheduler(timezone=NEW_YORK)
        defaults = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}
        first = self._clock()
        scheduler.add_job(
            self.tick,
            "interval",
            seconds=self._tick_seconds,
            id="tick",
            next_run_time=first,
            **defaults,
        )
        scheduler.add_job(
            self.beat,
            "interval",
            seconds=self._heartbeat_seconds,
            id="beat",
            next_run_time=first,
            **defaults,
        )
        scheduler.start()
        self._notifier.ready("scheduling expiration days")
        log.info("daemon_started", tick_s=self._tick_seconds)
        try:
            await stop.wait()
        finally:
            self._stopping = True
            self._notifier.stopping("stopping")
            scheduler.shutdown(wait=False)  # deferred by APScheduler to the loop
            log.info("daemon_stopped")
