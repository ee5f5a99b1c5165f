"""``exerciser run``: one whole cycle now — plan, submit, reconcile — then a summary.

Exit 0 when every row ended as intended, 1 when any row was rejected, failed, partly
accepted or is unresolved, 2 on bad input, 3 when the broker is unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

import structlog
from pydantic import SecretStr

from exerciser.adapters.clearstreet.broker import ClearStreetBookSource
from exerciser.adapters.clearstreet.instructions import ClearStreetInstructions
from exerciser.adapters.clock import RehearsalClock, system_now
from exerciser.adapters.prices_csv import load_prices
from exerciser.bootstrap import (
    build_calendar,
    build_checkpoint,
    build_client,
    build_journal,
    build_reference_store,
    build_rules,
)
from exerciser.commands._common import NEW_YORK, Context, Subcommands, parse_day, parse_moment
from exerciser.domain.calendar import NotASessionError, SessionCalendar, session_on_or_before
from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.domain.plan import PlanAction
from exerciser.errors import ConfigError
from exerciser.ports import Clock
from exerciser.reports.table import render_table
from exerciser.services.plan import PlanRequest
from exerciser.services.run import RunOptions, RunOutcome, run_day
from exerciser.services.submit import Checkpoint
from exerciser.settings import Settings

log = structlog.get_logger("exerciser.run")

EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports it


def add_parser(commands: Subcommands, parents: list[Any]) -> None:
    parser = commands.add_parser(
        "run",
        parents=parents,
        help="plan, submit and reconcile one expiration day now",
        description="One whole cycle: plan, submit, reconcile until terminal or the cutoff.",
    )
    parser.add_argument("--date", type=parse_day, help="business date (default: today's session)")
    parser.add_argument(
        "--as-of",
        type=parse_moment,
        help="rehearsal clock start, ISO date-time (refused against production unless --dry-run)",
    )
    parser.add_argument("--account", type=int, action="append", help="account id (repeatable)")
    parser.add_argument("--prices", type=Path, help="CSV symbol,close,last overriding prices")


def run(args: argparse.Namespace, ctx: Context, *, api_key: str | None = None) -> int:
    settings, out = ctx.settings, ctx.out
    if args.as_of is not None and not settings.dry_run and not settings.talks_to_simulator:
        raise ConfigError(
            ["--as-of: a rehearsal clock is refused against a real broker unless --dry-run"]
        )
    clock = RehearsalClock(args.as_of) if args.as_of else system_now
    now = clock()
    calendar = build_calendar(now.astimezone(NEW_YORK).date())
    request = PlanRequest(
        business_date=args.date or session_on_or_before(calendar, now.astimezone(NEW_YORK).date()),
        as_of=now,
        rules=build_rules(settings),
        account_ids=args.account or settings.accounts,
        concurrency=settings.concurrency,
        file_prices=load_prices(args.prices) if args.prices else None,
    )
    checkpoint = build_checkpoint(ctx.environ)
    try:
        outcome = asyncio.run(
            _cycle(settings, request, calendar, clock, checkpoint, api_key=api_key)
        )
    except NotASessionError as exc:
        print(f"{exc}: no options expire, nothing to do", file=out)
        return 0
    except asyncio.CancelledError:  # SIGTERM: every journal write is whole or absent
        print("stopped by SIGTERM; the journal is consistent: run again to resume", file=out)
        return EXIT_TERMINATED
    print_outcome(outcome, out)
    return 0 if outcome.ok else 1


async def _cycle(
    settings: Settings,
    request: PlanRequest,
    calendar: SessionCalendar,
    clock: Clock,
    checkpoint: Checkpoint,
    *,
    api_key: str | None,
) -> RunOutcome:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)  # stop cleanly, like Ctrl-C
    key = SecretStr(api_key) if api_key is not None else None
    run_id = uuid.uuid4().hex[:12]
    structlog.contextvars.bind_contextvars(run_id=run_id)
    try:
        with build_journal(settings) as journal:
            async with build_client(settings, api_key=key) as client:
                return await run_day(
                    request,
                    run_id=run_id,
                    source=ClearStreetBookSource(client),
                    broker=ClearStreetInstructions(client),
                    journal=journal,
                    calendar=calendar,
                    references=build_reference_store(settings),
                    clock=clock,
                    options=RunOptions(
                        dry_run=settings.dry_run,
                        batch_size=settings.batch_size,
                        concurrency=settings.concurrency,
                        cutoff_margin=timedelta(minutes=settings.cutoff_margin_minutes),
                        poll_first_delay=settings.poll_interval,
                        poll_max_delay=settings.poll_max_interval,
                    ),
                    checkpoint=checkpoint,
                )
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def print_outcome(outcome: RunOutcome, out: TextIO) -> None:
    plan = outcome.plan
    print(f"Run {outcome.run_id} for {plan.business_date} as of {plan.as_of.isoformat()}", file=out)
    if outcome.dry_run:
        rows = [
            [r.account_id, r.symbol, r.action.value, r.quantity, r.instruction_id]
            for r in plan.instructions
        ]
        print("Dry run: nothing was sent. Would send:", file=out)
        print(
            render_table(["account", "contract", "instruction", "qty", "instruction_id"], rows),
            file=out,
        )
    else:
        rows = [
            [
                r.account_id,
                r.symbol,
                r.instruction_type.value,
                r.quantity,
                r.state.value,
                r.accepted_quantity,
                _note(r),
            ]
            for r in [*outcome.rows, *outcome.superseded]
        ]
        headers = ["account", "contract", "instruction", "qty", "state", "accepted", "note"]
        print(render_table(headers, rows), file=out)
    review = [r for r in plan.rows if r.action is PlanAction.MANUAL_REVIEW]
    if review:
        print(
            "\nNeeds a human (nothing sent; OCC's default applies unless someone acts):", file=out
        )
        for r in review:
            print(f"  - account {r.account_id} {r.symbol}: {'; '.join(r.reasons)}", file=out)
    for warning in plan.warnings:
        print(f"  ! {warning}", file=out)
    problems = outcome.problems
    verdict = (
        "dry run"
        if outcome.dry_run
        else (
            "all rows ended as intended" if not problems else f"{len(problems)} rows need attention"
        )
    )
    print(
        f"\n{len(plan.instructions)} instructions planned; {verdict}; "
        f"internal cutoff {outcome.internal_cutoff.isoformat()}",
        file=out,
    )


def _note(row: LedgerRow) -> str:
    if row.superseded:
        return f"superseded by a later plan; {row.reason or row.state.value}"
    if row.state is RowState.ACCEPTED and not row.ended_as_intended:
        return f"partly accepted: {row.accepted_quantity} of {row.quantity}"
    return row.reason or ""
