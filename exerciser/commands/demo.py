"""``exerciser demo``: a whole expiration day, end to end, against the built-in
simulator, on a rehearsal clock that runs a day's afternoon in seconds.

The simulator serves the sample book (or ``--scenario``). The daemon's own machinery —
the day schedule, the tick, the steps, the reports and the alerts — runs on a stepped
clock shared with the simulator: the preview before the close, the capture of the close,
the submission and reconciliation after it, the report at the internal cutoff. Alerts
go to the console; the journal and the HTML reports are kept in a fresh folder under
``state_dir/demo/``. Nothing leaves this machine.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

import structlog
from pydantic import SecretStr

from exerciser.adapters.alerts.console import ConsoleChannel
from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.clock import system_now
from exerciser.adapters.journal import SqliteJournal
from exerciser.adapters.reference_store import FileReferenceStore
from exerciser.bootstrap import build_calendar, build_client, build_rules
from exerciser.commands import simulate
from exerciser.commands._common import Context, Subcommands
from exerciser.commands._hooks import ReportingHooks
from exerciser.commands.daemon import run_options, schedule_config
from exerciser.daemon import Daemon
from exerciser.domain.calendar import NEW_YORK
from exerciser.services.alerts import AlertDispatcher
from exerciser.services.day import DayRunner, DayServices
from exerciser.settings import Settings
from exerciser.sim import Scenario, running_simulator

TICK = timedelta(seconds=30)
START_BEFORE_CLOSE = timedelta(minutes=35)
END_AFTER_CUTOFF = timedelta(minutes=5)

log = structlog.get_logger("exerciser.demo")


class SteppedClock:
    """Rehearsal time: it moves when the demo ticks or when the daemon waits."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
        await asyncio.sleep(0)


def add_parser(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "demo",
        parents=parents,
        help="play an expiration day end to end against the built-in simulator",
        description="The daemon's whole day against the simulator, on a fast rehearsal clock.",
    )
    parser.add_argument("--scenario", type=Path, help="scenario YAML (default: the sample book)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    scenario = simulate.scenario_of(args)
    stamp = system_now().strftime("%Y%m%dT%H%M%S")
    state = Path(ctx.settings.state_dir) / "demo" / f"{scenario.business_date}-{stamp}"
    clock = SteppedClock((scenario.close_at - START_BEFORE_CLOSE).astimezone(UTC))
    with running_simulator(scenario, clock=clock) as sim:
        settings = ctx.settings.model_copy(
            update={"api_base_url": sim.base_url, "state_dir": state, "dry_run": False}
        )
        print(
            f"Demo: expiration day {scenario.business_date} against the simulator at "
            f"{sim.base_url}\nRehearsal clock from "
            f"{clock().astimezone(NEW_YORK):%H:%M} New York, {TICK.seconds} s a tick; "
            f"journal and reports in {state}\n",
            file=ctx.out,
        )
        asyncio.run(_play(settings, scenario, clock, sim.token, ctx.out))
    reports = sorted((state / "reports").glob("*.html"))
    print("Reports written:", *(f"  {p}" for p in reports), sep="\n", file=ctx.out)
    return 0  # the demo shows outcomes, rejections included; it failed only if it raised


async def _play(
    settings: Settings, scenario: Scenario, clock: SteppedClock, token: str, out: TextIO
) -> None:
    calendar = build_calendar(scenario.business_date)
    with SqliteJournal.open(Path(settings.state_dir) / "journal.sqlite3") as journal:
        alerts = AlertDispatcher(
            outbox=journal, notifiers=[ConsoleChannel(out=out)], clock=clock, sleep=clock.sleep
        )
        hooks = ReportingHooks(
            reports_dir=Path(settings.state_dir) / "reports", alerts=alerts, clock=clock
        )
        async with build_client(settings, api_key=SecretStr(token)) as client:
            runner = DayRunner(
                DayServices(
                    source=ClearStreetBookSource(client),
                    broker=ClearStreetInstructions(client),
                    journal=journal,
                    references=FileReferenceStore(Path(settings.state_dir) / "references"),
                    calendar=calendar,
                    rules=lambda: build_rules(settings),
                    clock=clock,
                    sleep=clock.sleep,
                    options=run_options(settings),
                    account_ids=settings.accounts,
                ),
                hooks,
            )
            daemon = Daemon(
                runner=runner,
                calendar=calendar,
                config=schedule_config(settings),
                clock=clock,
                notifier=_Quiet(),
                on_failure=hooks.step_failed,
            )
            schedule = daemon.schedule_for(scenario.business_date)
            assert schedule is not None
            end = schedule.day.cutoff_at + END_AFTER_CUTOFF
            while clock() <= end:
                for step in await daemon.tick():
                    print(f"-- {clock().astimezone(NEW_YORK):%H:%M:%S} {step.value} done", file=out)
                await alerts.deliver_due()
                clock.now += TICK


class _Quiet:
    """No systemd in a demo."""

    def ready(self, status: str | None = None) -> None: ...
    def status(self, text: str) -> None: ...
    def watchdog(self) -> None: ...
    def stopping(self, status: str | None = None) -> None: ...
