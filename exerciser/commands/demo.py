"""``exerciser demo``: a whole expiry cycle against the built-in simulator, on a
rehearsal clock.

The simulator serves the sample book (or ``--scenario``). The clock starts one minute
after the scenario's close — when the daemon captures the OCC reference and decides —
and runs at the wall clock's pace, for the simulator and the daemon alike. The demo
loads the book, plans, journals, submits, reconciles until every instruction is
terminal, and prints each step. Nothing leaves this machine; the journal lives in a
temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from contextlib import ExitStack
from datetime import UTC, timedelta
from pathlib import Path

from pydantic import SecretStr

from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.clock import RehearsalClock
from exerciser.adapters.journal import SqliteJournal
from exerciser.adapters.reference_store import FileReferenceStore
from exerciser.bootstrap import build_calendar, build_client, build_rules
from exerciser.commands import positions, simulate
from exerciser.commands._common import Context, Subcommands, load
from exerciser.commands.run import print_outcome
from exerciser.domain.book import Book
from exerciser.domain.calendar import SessionCalendar
from exerciser.reports.plan import plan_table
from exerciser.services.plan import PlanRequest
from exerciser.services.run import RunOptions, RunOutcome, run_day
from exerciser.settings import Settings
from exerciser.sim import running_simulator

DECIDE_AFTER_CLOSE = timedelta(minutes=1)


def add_parser(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "demo",
        parents=parents,
        help="run an expiry day against the built-in simulator",
        description="Start the broker simulator with a sample book and run a whole cycle.",
    )
    parser.add_argument("--scenario", type=Path, help="scenario YAML (default: the sample book)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    settings, out = ctx.settings, ctx.out
    scenario = simulate.scenario_of(args)
    clock = RehearsalClock(scenario.close_at.astimezone(UTC) + DECIDE_AFTER_CLOSE)
    calendar = build_calendar(scenario.business_date)
    with ExitStack() as stack:
        sim = stack.enter_context(running_simulator(scenario, clock=clock))
        state = stack.enter_context(tempfile.TemporaryDirectory(prefix="exerciser-demo-"))
        print(
            f"Simulated broker at {sim.base_url}, business date {scenario.business_date}, "
            f"rehearsal clock from {clock().isoformat(timespec='seconds')}\n",
            file=out,
        )
        here = settings.model_copy(
            update={"api_base_url": sim.base_url, "state_dir": state, "poll_interval": 0.2}
        )
        book = asyncio.run(load(here, api_key=sim.token))
        print("1. Loaded from the broker:", file=out)
        positions.print_book(book, scenario.business_date, out)
        request = PlanRequest(
            business_date=scenario.business_date,
            as_of=clock(),
            rules=build_rules(here),
            account_ids=here.accounts,
            concurrency=here.concurrency,
        )
        outcome = asyncio.run(
            _cycle(
                here, request=request, calendar=calendar, clock=clock, token=sim.token, book=book
            )
        )
        print("\n2. Decided:", file=out)
        out.write(plan_table(outcome.plan))
        print("\n3. Submitted and reconciled:", file=out)
        print_outcome(outcome, out)
    return 0  # the demo shows outcomes, rejections included; it failed only if it raised


async def _cycle(
    settings: Settings,
    *,
    request: PlanRequest,
    calendar: SessionCalendar,
    clock: RehearsalClock,
    token: str,
    book: Book,
) -> RunOutcome:
    with SqliteJournal.open(Path(settings.state_dir) / "journal.sqlite3") as journal:
        async with build_client(settings, api_key=SecretStr(token)) as client:
            return await run_day(
                request,
                run_id=f"demo-{uuid.uuid4().hex[:8]}",
                source=ClearStreetBookSource(client),
                broker=ClearStreetInstructions(client),
                journal=journal,
                calendar=calendar,
                references=FileReferenceStore(Path(settings.state_dir) / "references"),
                clock=clock,
                options=RunOptions(poll_first_delay=settings.poll_interval),
                command="demo",
                book=book,
            )
