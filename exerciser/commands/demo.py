"""``exerciser demo``: an expiry day against the built-in simulator, on a rehearsal clock.

The simulator serves the sample book (or ``--scenario``); the clock is set just after
the scenario's close, when the daemon captures the OCC reference and decides. Nothing
leaves this machine and nothing is written outside a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from datetime import UTC, timedelta
from pathlib import Path

from exerciser.adapters.reference_store import FileReferenceStore
from exerciser.bootstrap import build_calendar, build_rules
from exerciser.commands import positions, simulate
from exerciser.commands._common import Context, Subcommands, load
from exerciser.reports.plan import plan_table
from exerciser.services.plan import PlanRequest, plan_book
from exerciser.sim import running_simulator

DECIDE_AFTER_CLOSE = timedelta(minutes=1)


def add_parser(commands: Subcommands, parents: list[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "demo",
        parents=parents,
        help="run an expiry day against the built-in simulator",
        description="Start the broker simulator with a sample book and run against it.",
    )
    parser.add_argument("--scenario", type=Path, help="scenario YAML (default: the sample book)")


def run(args: argparse.Namespace, ctx: Context) -> int:
    settings, out = ctx.settings, ctx.out
    scenario = simulate.scenario_of(args)
    decide_at = scenario.close_at.astimezone(UTC) + DECIDE_AFTER_CLOSE
    rules = build_rules(settings)
    calendar = build_calendar(scenario.business_date)
    with (
        running_simulator(scenario, clock=lambda: decide_at) as sim,
        tempfile.TemporaryDirectory(prefix="exerciser-demo-") as state,
    ):
        print(
            f"Simulated broker at {sim.base_url}, business date {scenario.business_date}, "
            f"clock {decide_at.isoformat()}\n",
            file=out,
        )
        here = settings.model_copy(update={"api_base_url": sim.base_url})
        book = asyncio.run(load(here, api_key=sim.token))
        positions.print_book(book, scenario.business_date, out)
        request = PlanRequest(
            business_date=scenario.business_date,
            as_of=decide_at,
            rules=rules,
            account_ids=here.accounts,
            concurrency=here.concurrency,
        )
        references = FileReferenceStore(Path(state) / "references")
        result = plan_book(book, request, calendar=calendar, references=references)
    print("", file=out)
    out.write(plan_table(result))
    return 0
