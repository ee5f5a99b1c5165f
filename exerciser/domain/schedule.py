"""The daemon's day: which steps run when, and until when each is still worth running.

Pure date arithmetic over an ``ExpiryDay`` (so early closes and DST come from the
calendar), tested as tables. All times are aware, America/New_York.

    morning check    morning_check_at                  (useful until the preview)
    preview          close - preview_before_close      (until the close)
    capture          close + capture_after_close       (until the submit step)
    submit           close + submit_after_close        (until the internal cutoff)
    re-evaluate      every reevaluate_every after submit, while before the internal cutoff
    report           the internal cutoff               (until the exchange cutoff)

A daemon started late runs each step whose deadline has not passed, at once if its time
has; nothing that sends is ever scheduled past the internal cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum

from exerciser.domain.calendar import NEW_YORK, ExpiryDay


class Step(StrEnum):
    MORNING_CHECK = "morning_check"
    PREVIEW = "preview"
    CAPTURE = "capture"
    SUBMIT = "submit"
    REEVALUATE = "reevaluate"
    REPORT = "report"

    @property
    def sends(self) -> bool:
        """Whether the step may send instructions to the broker."""
        return self in (Step.SUBMIT, Step.REEVALUATE)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleConfig:
    morning_check_at: time = time(9, 0)
    preview_before_close: timedelta = timedelta(minutes=30)
    capture_after_close: timedelta = timedelta(seconds=30)
    submit_after_close: timedelta = timedelta(minutes=10)
    cutoff_margin: timedelta = timedelta(minutes=30)
    reevaluate: bool = False
    reevaluate_every: timedelta = timedelta(minutes=15)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduledStep:
    step: Step
    at: datetime
    deadline: datetime  # after this the step is skipped, however late the daemon is

    @property
    def job_id(self) -> str:
        return f"{self.at.date().isoformat()}:{self.step.value}:{self.at.strftime('%H%M%S')}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DaySchedule:
    day: ExpiryDay
    internal_cutoff: datetime
    steps: tuple[ScheduledStep, ...]

    def due(self, now: datetime) -> list[ScheduledStep]:
        """Steps still worth running at ``now``: every one whose deadline is ahead —
        except that of the re-evaluations whose time has passed only the latest is kept:
        a late daemon catches up once, it does not replay a backlog."""
        passed = [s for s in self.steps if s.step is Step.REEVALUATE and s.at <= now]
        stale = set(passed[:-1])
        return [s for s in self.steps if now < s.deadline and s not in stale]


def day_schedule(day: ExpiryDay, config: ScheduleConfig) -> DaySchedule:
    close = day.close_at
    internal_cutoff = day.cutoff_at - config.cutoff_margin
    morning = datetime.combine(day.day, config.morning_check_at, tzinfo=NEW_YORK)
    preview = close - config.preview_before_close
    capture = close + config.capture_after_close
    submit = min(close + config.submit_after_close, internal_cutoff)
    steps = [
        ScheduledStep(step=Step.MORNING_CHECK, at=morning, deadline=max(preview, morning)),
        ScheduledStep(step=Step.PREVIEW, at=preview, deadline=close),
        ScheduledStep(step=Step.CAPTURE, at=capture, deadline=max(submit, capture)),
        ScheduledStep(step=Step.SUBMIT, at=submit, deadline=internal_cutoff),
    ]
    if config.reevaluate:
        at = submit + config.reevaluate_every
        while at < internal_cutoff:
            steps.append(ScheduledStep(step=Step.REEVALUATE, at=at, deadline=internal_cutoff))
            at += config.reevaluate_every
    steps.append(ScheduledStep(step=Step.REPORT, at=internal_cutoff, deadline=day.cutoff_at))
    return DaySchedule(
        day=day,
        internal_cutoff=internal_cutoff,
        steps=tuple(sorted(steps, key=lambda s: s.at)),
    )
