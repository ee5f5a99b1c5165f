"""The daemon's real day — DayRunner, journal, reports, alerts — against the simulator on
a stepped clock: a restart mid-day sends nothing twice, a dry run sends nothing, and no
instruction reaches the broker after the internal cutoff."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from exerciser.adapters.alerts.console import ConsoleChannel
from exerciser.adapters.calendar import XnysCalendar
from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.client import ClearStreetClient, RetryPolicy
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.journal import SqliteJournal
from exerciser.adapters.reference_store import FileReferenceStore
from exerciser.commands._hooks import ReportingHooks
from exerciser.commands.demo import SteppedClock
from exerciser.daemon import Daemon
from exerciser.domain.calendar import NEW_YORK
from exerciser.domain.policy import RuleSet
from exerciser.domain.schedule import ScheduleConfig, Step
from exerciser.services.alerts import AlertDispatcher
from exerciser.services.day import DayRunner, DayServices
from exerciser.services.run import RunOptions
from exerciser.sim import Simulator, load_scenario, running_simulator, sample_scenario_path

pytestmark = pytest.mark.anyio

DAY = datetime(2026, 11, 20, tzinfo=UTC).date()
CLOSE = datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
CALENDAR = XnysCalendar(start=DAY - timedelta(days=30), end=DAY + timedelta(days=30))


class Quiet:
    def ready(self, status: str | None = None) -> None: ...
    def status(self, text: str) -> None: ...
    def watchdog(self) -> None: ...
    def stopping(self, status: str | None = None) -> None: ...


@pytest.fixture
def clock() -> SteppedClock:
    return SteppedClock(CLOSE - timedelta(minutes=35))


@pytest.fixture
def sim(clock: SteppedClock) -> Iterator[Simulator]:
    with running_simulator(load_scenario(sample_scenario_path()), clock=clock) as simulator:
        yield simulator


@asynccontextmanager
async def daemon_on(
    sim: Simulator, clock: SteppedClock, state: Path, *, dry_run: bool = False
) -> AsyncIterator[tuple[Daemon, io.StringIO]]:
    console = io.StringIO()
    with SqliteJournal.open(state / "journal.sqlite3") as journal:
        alerts = AlertDispatcher(
            outbox=journal, notifiers=[ConsoleChannel(out=console)], clock=clock, sleep=clock.sleep
        )
        hooks = ReportingHooks(reports_dir=state / "reports", alerts=alerts, clock=clock)
        async with ClearStreetClient(
            base_url=sim.base_url, api_key=SecretStr(sim.token), retry=RetryPolicy(attempts=1)
        ) as client:
            runner = DayRunner(
                DayServices(
                    source=ClearStreetBookSource(client),
                    broker=ClearStreetInstructions(client),
                    journal=journal,
                    references=FileReferenceStore(state / "references"),
                    calendar=CALENDAR,
                    rules=RuleSet,
                    clock=clock,
                    sleep=clock.sleep,
                    options=RunOptions(dry_run=dry_run, poll_first_delay=5),
                ),
                hooks,
            )
            daemon = Daemon(
                runner=runner,
                calendar=CALENDAR,
                config=ScheduleConfig(),
                clock=clock,
                notifier=Quiet(),
                heartbeat=alerts.deliver_due,
                on_failure=hooks.step_failed,
            )
            yield daemon, console
            await alerts.deliver_due()


async def play(daemon: Daemon, clock: SteppedClock, until: datetime) -> list[Step]:
    ran: list[Step] = []
    while clock() <= until:
        ran += await daemon.tick()
        await daemon.beat()
        clock.now += timedelta(seconds=30)
    return ran


def stored(sim: Simulator) -> list[str]:
    return sorted(
        i["instruction_id"] for a in (100001, 100002, 100003) for i in sim.book.instructions(a)
    )


async def test_a_whole_day_submits_reports_and_alerts(
    sim: Simulator, clock: SteppedClock, tmp_path: Path
) -> None:
    async with daemon_on(sim, clock, tmp_path) as (daemon, console):
        ran = await play(daemon, clock, CLOSE + timedelta(minutes=95))
    assert ran == [Step.MORNING_CHECK, Step.PREVIEW, Step.CAPTURE, Step.SUBMIT, Step.REPORT]
    assert len(stored(sim)) == 2
    names = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert "2026-11-20-preview.html" in names
    assert "2026-11-20-day.html" in names
    assert any(n.endswith(".json") for n in names)
    text = console.getvalue()
    assert "Exercise preview for 2026-11-20" in text
    assert "partly accepted" in text


async def test_a_restart_mid_day_sends_nothing_twice(
    sim: Simulator, clock: SteppedClock, tmp_path: Path
) -> None:
    async with daemon_on(sim, clock, tmp_path) as (first, _):
        await play(first, clock, CLOSE + timedelta(minutes=11))
    sent = stored(sim)
    posts = sim.book.submit_count
    assert len(sent) == 2
    async with daemon_on(sim, clock, tmp_path) as (second, console):
        ran = await play(second, clock, CLOSE + timedelta(minutes=95))
    assert ran == [Step.SUBMIT, Step.REPORT]  # the restart re-runs what is still due
    assert stored(sim) == sent
    assert sim.book.submit_count == posts  # adopted from the broker's list, not resent
    assert "Exercise preview" not in console.getvalue()  # alerts are not repeated


async def test_a_dry_run_day_sends_nothing(
    sim: Simulator, clock: SteppedClock, tmp_path: Path
) -> None:
    async with daemon_on(sim, clock, tmp_path, dry_run=True) as (daemon, _):
        await play(daemon, clock, CLOSE + timedelta(minutes=95))
    assert sim.book.submit_count == 0


async def test_a_daemon_started_after_the_internal_cutoff_sends_nothing(
    sim: Simulator, clock: SteppedClock, tmp_path: Path
) -> None:
    clock.now = CLOSE + timedelta(minutes=61)  # 17:01 New York: past 17:00
    async with daemon_on(sim, clock, tmp_path) as (daemon, _):
        ran = await play(daemon, clock, CLOSE + timedelta(minutes=95))
    assert ran == [Step.REPORT]
    assert sim.book.submit_count == 0
    assert clock().astimezone(NEW_YORK).hour == 17
